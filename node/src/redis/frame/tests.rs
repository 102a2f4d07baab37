use super::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};

fn args(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|a| a.as_bytes().to_vec()).collect()
}

fn parse_all(bytes: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
    let mut parser = Parser::default();
    let mut at = 0;
    let mut commands = Vec::new();
    loop {
        match parser.parse(&bytes[at..])? {
            Parsed::Command { args, used } => {
                at += used;
                commands.push(args);
            }
            Parsed::Incomplete { .. } => return Ok(commands),
        }
    }
}

#[test]
fn arrays_and_inline_commands_parse() {
    let bytes =
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhe\r\no\r\nPING\r\n set  \"a b\\x41\\n\" 'c\\'d'\r\n";
    let commands = parse_all(bytes).unwrap();
    assert_eq!(
        commands,
        vec![
            args(&["SET", "k", "he\r\no"]),
            args(&["PING"]),
            args(&["set", "a bA\n", "c'd"]),
        ]
    );
}

#[test]
fn a_command_split_at_every_byte_parses_the_same() {
    let bytes = b"*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\n";
    for cut in 0..bytes.len() {
        let mut parser = Parser::default();
        let first = parser.parse(&bytes[..cut]).unwrap();
        assert!(
            matches!(first, Parsed::Incomplete { need } if need > cut),
            "cut {cut}"
        );
        let whole = parser.parse(bytes).unwrap();
        assert_eq!(
            whole,
            Parsed::Command {
                args: args(&["ECHO", "hello world"]),
                used: bytes.len()
            },
            "cut {cut}"
        );
    }
}

#[test]
fn limits_are_protocol_errors() {
    let mut parser = Parser::default();
    let too_many = format!("*{}\r\n", REDIS_ARGS_MAX + 1);
    assert!(parser.parse(too_many.as_bytes()).is_err());
    let too_long = format!("*1\r\n${}\r\n", REDIS_BULK_BYTES_MAX + 1);
    assert!(Parser::default().parse(too_long.as_bytes()).is_err());
    let inline = vec![b'a'; REDIS_INLINE_BYTES_MAX + 1];
    assert!(Parser::default().parse(&inline).is_err());
    for bad in [
        &b"*x\r\n"[..],
        b"*1\r\n:1\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$1\r\nab\r\n",
        b"set \"a\r\n",
        b"set \"a\"b\r\n",
    ] {
        assert!(
            Parser::default().parse(bad).is_err(),
            "{:?} parsed",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn empty_commands_are_skipped_not_errors() {
    assert_eq!(
        parse_all(b"*0\r\n\r\n*-1\r\n").unwrap(),
        vec![Vec::<Vec<u8>>::new(); 3]
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let alphabet = b"*$\r\n0123456789-abc \"'\\x";
    for _ in 0..20_000 {
        let len = (rng.next_u32() % 64) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| match rng.next_u32() % 4 {
                0 => rng.next_u32() as u8,
                _ => alphabet[(rng.next_u32() as usize) % alphabet.len()],
            })
            .collect();
        let mut parser = Parser::default();
        for cut in [len / 2, len] {
            if parser.parse(&bytes[..cut]).is_err() {
                break;
            }
        }
    }
}

#[test]
fn replies_encode_in_resp2_and_resp3() {
    let reply = Reply::Array(vec![
        Reply::ok(),
        Reply::Nil,
        Reply::Int(-3),
        Reply::Double(0.5),
        Reply::Map(vec![(Reply::text("a"), Reply::Bulk(b"b".to_vec()))]),
        Reply::error("ERR bad\r\nthing"),
    ]);
    let mut two = Vec::new();
    reply.encode(2, &mut two);
    assert_eq!(
        String::from_utf8(two).unwrap(),
        "*6\r\n+OK\r\n$-1\r\n:-3\r\n$3\r\n0.5\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n-ERR bad  thing\r\n"
    );
    let mut three = Vec::new();
    reply.encode(3, &mut three);
    assert_eq!(
        String::from_utf8(three).unwrap(),
        "*6\r\n+OK\r\n_\r\n:-3\r\n,0.5\r\n%1\r\n$1\r\na\r\n$1\r\nb\r\n-ERR bad  thing\r\n"
    );
}
