//! The line editor: typing a line a key at a time, editing it, and pasting 1,000 characters.

use std::hint::black_box;
use std::time::Duration;

use chat_core::editor::{EditorConfig, LineEditor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// No completions: Tab is not in these inputs anyway.
fn none(_: &str, _: bool) -> Vec<String> {
    Vec::new()
}

fn editor(c: &mut Criterion) {
    let mut group = c.benchmark_group("editor");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let line = b"hey bob, did you see the build? it went green after the retry\r";
    group.throughput(Throughput::Bytes(line.len() as u64));
    group.bench_function("type_line_a_key_at_a_time", |b| {
        let mut editor = LineEditor::new(EditorConfig::default());
        b.iter(|| {
            for byte in line {
                black_box(editor.feed(std::slice::from_ref(byte), &mut none));
            }
        });
    });

    // Left arrows, a backspace, Ctrl-W, Home, End, Ctrl-U: the keys people edit with.
    let edits: &[&[u8]] = &[
        b"some text to edit",
        b"\x1b[D",
        b"\x1b[D",
        b"\x7f",
        b"\x17",
        b"\x1b[H",
        b"\x1bOF",
        b"\x15",
    ];
    group.throughput(Throughput::Elements(edits.len() as u64));
    group.bench_function("edit_keys", |b| {
        let mut editor = LineEditor::new(EditorConfig::default());
        b.iter(|| {
            for keys in edits {
                black_box(editor.feed(keys, &mut none));
            }
        });
    });

    for (name, unit) in [("ascii", "abcdefghij"), ("mixed", "añb世c😀d e")] {
        let text: String = unit.chars().cycle().take(1000).collect();
        let mut paste = b"\x1b[200~".to_vec();
        paste.extend_from_slice(text.as_bytes());
        paste.extend_from_slice(b"\x1b[201~\x15"); // and Ctrl-U, ready for the next one
        group.throughput(Throughput::Bytes(paste.len() as u64));
        group.bench_function(format!("paste_1000_chars_{name}"), |b| {
            let mut editor = LineEditor::new(EditorConfig::default());
            b.iter(|| black_box(editor.feed(&paste, &mut none)));
        });
    }
    group.finish();
}

criterion_group!(benches, editor);
criterion_main!(benches);
