// The chat in the browser: the JSON protocol (docs/protocol.md) over the WebSocket at /ws.
// Every text from the server is written with textContent, never as HTML.
"use strict";
(function () {
  const lines = document.getElementById("lines");
  if (!lines) return;
  const log = lines.parentElement;
  const members = document.getElementById("members");
  const roomList = document.getElementById("rooms");
  let askedRooms = 0; // /rooms answers the page asked for itself (not shown as a line)
  const count = document.getElementById("count");
  const roomEl = document.getElementById("room");
  const status = document.getElementById("status");
  const form = document.getElementById("say");
  const input = document.getElementById("text");

  let socket = null;
  let me = "";
  let room = "#lobby";
  let delay = 1000;
  let ended = ""; // why the server closed this session for good (a newer session of the key, a kick)
  const seen = new Set(); // lines already shown, so that history after a reconnect adds only what was missed
  const here = new Map(); // name -> { bot, away }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function time(at) {
    const d = new Date(at);
    if (isNaN(d)) return "";
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  }

  function setStatus(text, ok) {
    status.textContent = text;
    status.className = ok ? "ok" : "";
  }

  function add(kind, at, parts) {
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    const li = el("li", "line " + kind);
    const t = el("time", "at", time(at));
    if (at) t.dateTime = at;
    li.append(t);
    for (const [cls, text] of parts) li.append(el("span", cls, text));
    lines.append(li);
    while (lines.children.length > 1000) lines.firstElementChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  function line(m) {
    if (m.type === "said" || m.type === "emote") {
      const key = [m.room, m.at, m.from, m.type, m.text].join("\u0000");
      if (seen.has(key)) return;
      seen.add(key);
    }
    switch (m.type) {
      case "said": add("said", m.at, [["from", m.from], ["text", m.text]]); break;
      case "emote": add("emote", m.at, [["text", "* " + m.from + " " + m.text]]); break;
      case "private": add("private", m.at, [["from", m.from + " → you"], ["text", m.text]]); break;
      case "private_sent": add("private", m.at, [["from", "you → " + m.to], ["text", m.text]]); break;
    }
  }

  function showMembers() {
    members.replaceChildren();
    const names = [...here.keys()].sort((a, b) => a.localeCompare(b));
    for (const name of names) {
      const who = here.get(name);
      const li = el("li", name === me ? "me" : "", name);
      if (who.bot) li.append(el("span", "tag", "bot"));
      if (who.away) li.append(el("span", "tag", "away"));
      members.append(li);
    }
    count.textContent = "(" + names.length + ")";
    // The current room's count follows who comes and goes, without asking /rooms again.
    const mine = lastRooms.find((r) => r.name === room);
    if (mine && names.length && mine.members !== names.length) {
      mine.members = names.length;
      showRooms(lastRooms);
    }
  }

  function setRoom(next) {
    if (next === room && roomEl.textContent === next) return;
    room = next;
    roomEl.textContent = next;
    send({ type: "command", text: "/who" });
    askRooms();
  }

  function askRooms() {
    if (send({ type: "command", text: "/rooms" })) askedRooms += 1;
  }

  let lastRooms = [];
  function showRooms(rooms) {
    lastRooms = rooms;
    roomList.replaceChildren();
    for (const r of rooms) {
      const li = el("li");
      if (r.name === room) {
        li.append(el("span", "current", r.name));
        li.append(el("span", "n", " (" + r.members + ")"));
      } else {
        const go = el("button", "room-link", r.name);
        go.type = "button";
        go.setAttribute("aria-label", "Join " + r.name + " (" + r.members + " here)");
        go.addEventListener("click", () => send({ type: "join", room: r.name }));
        li.append(go, el("span", "n", " (" + r.members + ")"));
      }
      roomList.append(li);
    }
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  function handle(m) {
    switch (m.type) {
      case "hello":
        me = m.name; room = m.room; roomEl.textContent = m.room;
        delay = 1000;
        setStatus("Connected as " + m.name, true);
        send({ type: "command", text: "/who" });
        askRooms();
        break;
      case "said": case "emote": case "private": case "private_sent":
        line(m); break;
      case "history":
        if (m.room && m.room !== room) { here.clear(); showMembers(); setRoom(m.room); }
        for (const l of m.lines || []) line(l);
        break;
      case "who":
        here.clear();
        for (const w of m.members || []) here.set(w.name, { bot: w.bot, away: w.away });
        showMembers();
        break;
      case "joined":
        // Going to another room (`/join`), you are announced there; history may come first.
        if (m.room !== room && m.names.includes(me)) { here.clear(); showMembers(); setRoom(m.room); }
        if (m.room !== room) break;
        for (const n of m.names) if (!here.has(n)) here.set(n, { bot: false, away: false });
        showMembers();
        add("event", m.at, [["text", m.names.join(", ") + " joined"]]);
        break;
      case "left":
        if (m.room !== room) break;
        for (const n of m.names) here.delete(n);
        showMembers();
        add("event", m.at, [["text", m.names.join(", ") + " left"]]);
        break;
      case "moved":
        if (m.name === me) { setRoom(m.to); break; }
        here.delete(m.name); showMembers();
        add("event", m.at, [["text", m.name + " went to " + m.to]]);
        break;
      case "renamed":
        if (m.old === me) me = m.new;
        if (here.has(m.old)) { here.set(m.new, here.get(m.old)); here.delete(m.old); showMembers(); }
        add("event", m.at, [["text", m.old + " is now " + m.new]]);
        break;
      case "removed":
        here.delete(m.name); showMembers();
        add("event", m.at, [["text", m.name + (m.banned ? " was banned" : " was removed") + (m.by ? " by " + m.by : "") + (m.reason ? ": " + m.reason : "")]]);
        break;
      case "rooms":
        showRooms(m.rooms || []);
        if (askedRooms > 0) { askedRooms -= 1; break; }
        add("notice", m.at, [["text", "Rooms: " + (m.rooms || []).map((r) => r.name + " (" + r.members + ")").join(", ")]]);
        break;
      case "whois":
        add("notice", m.at, [["text", m.name + ": in " + m.room + (m.verified ? ", verified key" : "") + (m.bot ? ", a bot" : "") + (m.away ? ", away: " + m.away : "")]]);
        break;
      case "notice":
        add("notice", m.at, [["text", m.text]]); break;
      case "missed":
        add("notice", m.at, [["text", m.count + " messages were missed while this page was behind"]]); break;
      case "error":
        add("error", m.at, [["text", m.message]]); break;
      case "bye":
        add("notice", m.at, [["text", "Disconnected: " + m.reason]]);
        // After a restart, come back; after a kick, or another tab taking over the key, do
        // not fight it: come back only when asked.
        if (!/shutting down/.test(m.reason)) ended = m.reason;
        break;
    }
  }

  function connect() {
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
    setStatus("Connecting…", false);
    socket = new WebSocket(url);
    socket.onmessage = (event) => {
      let m;
      try { m = JSON.parse(event.data); } catch (e) { return; }
      if (m && typeof m.type === "string") handle(m);
    };
    socket.onclose = () => {
      socket = null;
      if (ended) {
        setStatus("Disconnected: " + ended + ". ", false);
        const again = el("button", "secondary", "Reconnect");
        again.type = "button";
        again.addEventListener("click", () => { ended = ""; delay = 1000; connect(); });
        status.append(again);
        return;
      }
      const wait = delay;
      delay = Math.min(delay * 2, 30000);
      setStatus("Disconnected; reconnecting in " + Math.round(wait / 1000) + " s…", false);
      setTimeout(connect, wait);
    };
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    const message = text.startsWith("/") ? { type: "command", text } : { type: "say", text };
    if (send(message)) input.value = "";
    else setStatus("Not connected; your line is kept until the chat is back", false);
  });

  connect();
})();
