#!/usr/bin/env python3
"""Writes the hand-made seeds in corpus/ (run from anywhere; overwrites only seed-* files).

Keyfile seeds also include real keys made with ssh-keygen, kept as they were generated
(corpus/keyfile/k_*.pub); this script adds the mixed files around them. The store target's
seeds are inputs a run found (its input is structured by `arbitrary`, so there is nothing
readable to write by hand).
"""
import base64
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CUT = b"\xff\x00"  # a chunk boundary for the editor and session targets


def write(target, name, data):
    path = os.path.join(HERE, "corpus", target, "seed-" + name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def split_everywhere(data):
    return CUT.join(bytes([b]) for b in data)


# Keystrokes as terminals send them.
keys = {
    "hello-enter": b"hello world\r",
    "crlf-lf-crnul": b"one\r\ntwo\nthree\r\x00",
    "arrows-csi-ss3": b"abc\x1b[D\x1b[D\x1bOD\x1b[C\x1bOC\x1b[1;5D\x1b[1;3C\x1b[H\x1b[F\x1bOH\x1bOF\x1b[3~X\r",
    "history": b"first\rsecond\r\x1b[A\x1b[A\x1b[B\x1bOA\r",
    "ctrl-keys": b"word one two\x17\x01\x0b\x05\x15abc\x02\x06\x08\x7f\x03\x0c\x04",
    "alt-keys": b"foo bar baz\x1bb\x1bb\x1bf\x1b\x7f\x1b\x08\r",
    "paste": b"\x1b[200~pasted\r\nline\ttab\x1b[31mred\x1b[0m\x1b[201~\r",
    "paste-unterminated": b"\x1b[200~never ends " + b"x" * 200,
    "utf8-split": split_everywhere("héllo 👍🏽 e\u0301 🇺🇸 日本 👨‍👩‍👧".encode()),
    "escape-split": split_everywhere(b"\x1b[1;5D\x1bOA\x1b[200~p\x1b[201~\x1b[3~"),
    "invalid-utf8": b"a\xc3(b\xe2\x82c\xf0\x9f\x98d\xff\xff\xfe\x80\r",
    "tab-complete": b"/ni\t al\t\t\r/m\t\t\r",
    "mouse-focus-fkeys": b"\x1b[M !!\x1b[<0;10;5M\x1b[I\x1b[O\x1b[15~\x1bOP\x1b[?1;2c\x1b]11;rgb:0/0/0\x07x\r",
    "long-params": b"\x1b[" + b"1;" * 40 + b"D ok\r",
    "backspace-graphemes": "👍🏽🇺🇸e\u0301".encode() + b"\x7f\x7f\x08" + b"\r",
    "bidi-controls": "a\u202eb\u2066c\u200fd\u2028e".encode() + b"\r",
}
for name, data in keys.items():
    write("editor", name, data)

commands = [
    "hello", "  spaced  ", "//not a command", "/", "/nick alice", "/nick", "/nick two words",
    "/msg bob hi there", "/msg bob", "/reply thanks", "/me waves", "/away gone fishing",
    "/back", "/whois bob", "/timestamp datetime +05:30", "/timestamp -08", "/timestamp off",
    "/timestamp utc time", "/theme mono", "/theme purple", "/ignore", "/ignore bob",
    "/unignore bob", "/quiet", "/join #rust", "/join rust", "/part", "/rooms", "/motd",
    "/motd Welcome!", "/history", "/history 500", "/history -1", "/exit", "/QUIT",
    "/kick bob spamming", "/ban bob 7d flooding", "/ban fingerprint:SHA256:abc 30m",
    "/ban ip:10.0.0.1", "/ban ip:::1 99999999999999999999w", "/unban ip:10.0.0.1",
    "/banned", "/mute bob", "/unmute bob", "/op bob", "/deop bob", "/rename bob robert",
    "/reload", "/frobnicate now", "/Nick\tbob", "/msg\u00a0bob\u3000hi", "/help",
]
for i, line in enumerate(commands):
    write("command", f"{i:02}", line.encode())

# Render: header (kind, width u16, prefs, offset i16, time i64 ms, number u64), then fields
# separated by 0xFF 0x00: reader, a, b, room, extra...
def render(kind, width, prefs, offset, millis, number, fields):
    header = struct.pack("<BHBhqQ", kind, width, prefs, offset, millis, number)
    return header + CUT.join(f.encode() for f in fields)

T = 1_780_000_000_000
render_seeds = {
    "said": render(0, 80, 2, 0, T, 0, ["bob", "alice", "hello bob, how are you?", "#lobby"]),
    "said-escapes": render(0, 40, 2, 120, T, 0, ["bob", "m\x1b[31mallory", "a\x1b]0;pwned\x07b\x1b[2Jc\x9b1m\u202eevil", "#lobby"]),
    "emote-wide": render(1, 7, 4, -330, T, 0, ["x", "日本語", "👍🏽👨‍👩‍👧🇺🇸 e\u0301" * 3, "#r"]),
    "joined": render(2, 20, 1, 0, T, 3, ["me", "alice", "", "#lobby"]),
    "left": render(3, 30, 2, 0, T, 3725, ["me", "alice", "", "#lobby"]),
    "moved": render(4, 12, 2, 0, T, 0, ["me", "alice", "#elsewhere", "#lobby"]),
    "removed": render(5, 25, 2, 0, T, 1, ["me", "alice", "op", "#lobby", "being\nrude"]),
    "joined-many": render(6, 15, 2, 0, T, 9, ["me", "a", "b", "c", "d", "e"]),
    "left-many": render(7, 1, 2, 0, T, 2, ["me", "a", "b"]),
    "renamed": render(8, 10, 2, 0, T, 0, ["me", "bob", "robert", "#lobby"]),
    "private-from": render(9, 2, 2, 0, T, 0, ["me", "carol", "psst " * 30]),
    "private-to": render(10, 3, 3, 0, T, 0, ["me", "carol", "zalgo a" + "\u0301" * 40]),
    "notice-lines": render(11, 16, 0, 0, T, 1, ["me", "", "line one\nline two\r\n\tthree"]),
    "missed": render(12, 5, 0, 0, T, 12345, ["me"]),
    "mention": render(0, 80, 2, 0, T, 0, ["Bob", "alice", "hey @bob, BOB-2 and bob!", "#lobby"]),
    # What the fuzzer found in the prompt (see chat-core/src/render/prompt/tests.rs). The prompt
    # is drawn at width % 200 + 1 columns, (number >> 16) % 40 + 1 rows, with the input (field
    # 2) and the cursor at number % (its length + 1).
    "prompt-1x1": render(0, 0, 0, 0, T, 0, ["mallory", "a", ""]),
    "prompt-wide-grapheme": render(0, 1, 0, 0, T, 1 << 16, ["me", "a", "👍🏽x"]),
    "prompt-combining-mark": render(0, 3, 0, 0, T, 4 << 16, ["x", "a", "\u0301"]),
}
for name, data in render_seeds.items():
    write("render", name, data)

# Session: header (flags: 1 plain, 2 keyed; width; height; alice's width), then keystrokes and
# 0xFF-marked operations (R resize, T wait, S alice says, J rejoin as, E end of input, K tick).
def session(flags, width, height, alice_width, body):
    return bytes([flags, width, height, alice_width]) + body

session_seeds = {
    "say": session(0, 80, 24, 70, b"hello alice\r"),
    "escapes": session(0, 40, 10, 30, b"\x1b[200~\x1b]0;x\x07\x1b[2J\x1b[201~hi\r" + "\u202eevil\r".encode()),
    "commands": session(2, 60, 20, 50, b"/nick m\x1b[31mx\r/me waves\r/msg alice psst\r/away brb\r/back\r/history 5\r/who\r/whois alice\r/join #x\r/part\r"),
    "resize": session(0, 80, 24, 20, b"a long line of typing that wraps" + b"\xffR" + bytes([5, 3]) + b"more\xffR" + bytes([1, 1]) + b"\x1b[D\x1b[D\xffR" + bytes([0, 0]) + b"\r"),
    "alice-talks": session(0, 30, 8, 12, b"\xffSmallory: look\xffThi\xffS/me \x1b[5mblinks\r"),
    "rejoin": session(2, 50, 12, 40, b"\xffJ\x1b[1mbad\x07name\xffKhi\r\xffT\x05\xffK\xffE"),
    "plain": session(1, 0, 0, 60, b"hello from a pipe\nsecond line\r\n/nick bot\n\x1b[31mred\n\xffE"),
    "flood": session(0, 80, 24, 80, b"x\r" * 30 + b"\xffT\x0a" + b"y\r" * 5),
    "utf8-split": session(0, 20, 5, 15, split_everywhere("日本👍🏽e\u0301\r".encode())),
    "tab": session(0, 80, 24, 80, b"al\t\t /ni\t\r"),
    "ctrl-l-d": session(0, 80, 24, 80, b"abc\x0c\x15\x04"),
}
for name, data in session_seeds.items():
    write("session", name, data)

# Keyfile: mixed files around the real keys.
keydir = os.path.join(HERE, "corpus", "keyfile")
pubs = sorted(f for f in os.listdir(keydir) if f.endswith(".pub") and not f.startswith("seed-"))
lines = [open(os.path.join(keydir, f)).read().strip() for f in pubs]
def sk_ed25519():
    s = lambda b: struct.pack(">I", len(b)) + b
    blob = s(b"sk-ssh-ed25519@openssh.com") + s(bytes(range(32))) + s(b"ssh:")
    return "sk-ssh-ed25519@openssh.com " + base64.b64encode(blob).decode() + " yubikey"
mixed = ["# operators", "", *lines, 'from="10.0.0.0/8,192.168.1.1",no-pty ' + lines[0],
         'command="echo \\"hi there\\"",no-agent-forwarding ' + lines[-1], "  " + lines[1] + "  ",
         sk_ed25519()]
write("keyfile", "mixed", ("\n".join(mixed) + "\n").encode())
write("keyfile", "bad-base64", (lines[0] + "\nssh-ed25519 not-base64 x\n").encode())
write("keyfile", "truncated", (lines[0][: len(lines[0]) // 2] + "\n").encode())
write("keyfile", "crlf-comments", ("#c\r\n" + lines[2] + "\r\n\r\n# end").encode())
write("keyfile", "quoted-space-options", ('environment="A=b c",from="x" ' + lines[3] + "\n").encode())
