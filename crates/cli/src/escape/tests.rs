use proptest::prelude::*;

use super::*;

/// What a session sends and does for `reads`, fed one after the other: the bytes sent on, and
/// each command with how many bytes had been sent before it.
fn run(escape: u8, reads: &[&[u8]]) -> (Vec<u8>, Vec<(usize, Command)>) {
    let mut e = Escapes::new(escape);
    let (mut sent, mut commands) = (Vec::new(), Vec::new());
    for read in reads {
        for step in e.steps(read) {
            match step {
                Step::Pass(r) => sent.extend_from_slice(&read[r]),
                Step::Byte(b) => sent.push(b),
                Step::Command(c) => commands.push((sent.len(), c)),
            }
        }
    }
    (sent, commands)
}

fn whole(input: &[u8]) -> (Vec<u8>, Vec<(usize, Command)>) {
    run(b'~', &[input])
}

#[test]
fn commands_at_the_start_of_a_line() {
    assert_eq!(whole(b"~."), (vec![], vec![(0, Command::Disconnect)]));
    assert_eq!(
        whole(b"ls\r~."),
        (b"ls\r".to_vec(), vec![(3, Command::Disconnect)])
    );
    assert_eq!(
        whole(b"echo\n~?x"),
        (b"echo\nx".to_vec(), vec![(5, Command::Help)])
    );
    assert_eq!(whole(b"~\x1a"), (vec![], vec![(0, Command::Suspend)]));
    // After a command the line has still not begun: another escape works at once.
    assert_eq!(
        whole(b"~?~."),
        (vec![], vec![(0, Command::Help), (0, Command::Disconnect)])
    );
}

#[test]
fn everything_else_is_sent_as_typed() {
    // Not at the start of a line.
    assert_eq!(whole(b"a~."), (b"a~.".to_vec(), vec![]));
    assert_eq!(whole(b"cd ~/x\r"), (b"cd ~/x\r".to_vec(), vec![]));
    // At the start of a line, but not a command: both characters go.
    assert_eq!(whole(b"~/bin\r"), (b"~/bin\r".to_vec(), vec![]));
    assert_eq!(whole(b"\r~x~."), (b"\r~x~.".to_vec(), vec![]));
    // Typed twice: one goes, and the line has begun.
    assert_eq!(whole(b"~~."), (b"~.".to_vec(), vec![]));
    // Enter after the escape: the escape and the Enter go, and a new line starts.
    assert_eq!(
        whole(b"~\r~."),
        (b"~\r".to_vec(), vec![(2, Command::Disconnect)])
    );
}

#[test]
fn the_held_escape_waits_for_the_next_read() {
    assert_eq!(
        run(b'~', &[b"ls\r~", b"."]).1,
        vec![(3, Command::Disconnect)]
    );
    assert_eq!(run(b'~', &[b"~", b"x"]).0, b"~x");
    // Held at the end of what was typed: nothing sent yet.
    assert_eq!(run(b'~', &[b"~"]), (vec![], vec![]));
}

#[test]
fn another_escape_character() {
    let ctrl_rbracket = parse("^]").unwrap().unwrap();
    assert_eq!(ctrl_rbracket, 0x1d);
    assert_eq!(
        run(ctrl_rbracket, &[b"~.\r\x1d."]),
        (b"~.\r".to_vec(), vec![(3, Command::Disconnect)])
    );
    assert_eq!(parse("none"), Ok(None));
    assert_eq!(parse("%"), Ok(Some(b'%')));
    assert_eq!(parse("^a"), Ok(Some(1)));
    assert!(parse("ab").is_err());
    assert!(parse("é").is_err());
    assert!(Escapes::new(0x1d).help().contains("^]."));
}

/// Whether `input` holds something the escape machine acts on: the escape character at the
/// start of a line followed by a command, by itself, or by nothing (held).
fn holds_a_sequence(input: &[u8]) -> bool {
    let mut line_start = true;
    for (i, &b) in input.iter().enumerate() {
        if line_start && b == b'~' {
            match input.get(i + 1) {
                None | Some(b'.' | b'?' | b'~' | 0x1a) => return true,
                Some(_) => {}
            }
        }
        line_start = b == b'\r' || b == b'\n';
    }
    false
}

/// Typed input, rich in what matters here.
fn typed() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            4 => Just(b'~'),
            3 => Just(b'\r'),
            2 => Just(b'\n'),
            2 => Just(b'.'),
            1 => Just(b'?'),
            1 => Just(0x1a),
            4 => any::<u8>(),
        ],
        0..64,
    )
}

/// `input` cut into reads at `cuts` (positions, in any order, possibly repeated).
fn cut(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    at.sort_unstable();
    let mut reads = Vec::new();
    let mut from = 0;
    for c in at {
        reads.push(input[from..c].to_vec());
        from = c;
    }
    reads.push(input[from..].to_vec());
    reads
}

proptest! {
    /// Input with no escape sequence in it is sent byte for byte, however it is cut.
    #[test]
    fn input_without_a_sequence_passes_unchanged(
        input in typed().prop_filter("holds a sequence", |i| !holds_a_sequence(i)),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let reads = cut(&input, &cuts);
        let reads: Vec<&[u8]> = reads.iter().map(Vec::as_slice).collect();
        let (sent, commands) = run(b'~', &reads);
        prop_assert_eq!(sent, input);
        prop_assert!(commands.is_empty());
    }

    /// Whatever the input, how it is cut into reads changes nothing.
    #[test]
    fn reads_cut_anywhere_give_the_same_result(
        input in typed(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let reads = cut(&input, &cuts);
        let reads: Vec<&[u8]> = reads.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(run(b'~', &reads), whole(&input));
    }
}
