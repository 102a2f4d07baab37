use super::*;
use crate::search::tokens::Stemming;

fn parse(text: &str) -> Result<Query, QueryError> {
    Query::parse(text, &Tokenizer::new(Stemming::On))
}

fn term(t: &str) -> Expr {
    Expr::Term(t.to_string())
}

fn not(e: Expr) -> Expr {
    Expr::Not(Box::new(e))
}

#[test]
fn side_by_side_is_and_and_or_binds_looser() {
    let q = parse("Python programming").unwrap();
    assert_eq!(q.expr(), &Expr::And(vec![term("python"), term("program")]));
    let q = parse("a b OR c").unwrap();
    assert_eq!(
        q.expr(),
        &Expr::Or(vec![Expr::And(vec![term("a"), term("b")]), term("c")])
    );
    let q = parse("a (b OR c)").unwrap();
    assert_eq!(
        q.expr(),
        &Expr::And(vec![term("a"), Expr::Or(vec![term("b"), term("c")])])
    );
}

#[test]
fn a_written_and_means_what_a_space_means() {
    // The issue's own example: `AND` between terms, `OR` in parentheses, `-` to exclude.
    let written = parse("python AND (java OR rust) -cobol").unwrap();
    let spaced = parse("python (java OR rust) -cobol").unwrap();
    assert_eq!(written.expr(), spaced.expr());
    assert_eq!(
        written.expr(),
        &Expr::And(vec![
            term("python"),
            Expr::Or(vec![term("java"), term("rust")]),
            not(term("cobol")),
        ])
    );
    // Lower case, or inside a word, it is a word.
    let q = parse("sand and").unwrap();
    assert_eq!(q.expr(), &Expr::And(vec![term("sand"), term("and")]));
    // `AND` binds tighter than `OR`.
    let q = parse("a AND b OR c").unwrap();
    assert_eq!(
        q.expr(),
        &Expr::Or(vec![Expr::And(vec![term("a"), term("b")]), term("c")])
    );
}

#[test]
fn not_and_dash_negate_and_their_terms_do_not_score() {
    let q = parse("cats -dogs NOT birds").unwrap();
    assert_eq!(
        q.expr(),
        &Expr::And(vec![term("cat"), not(term("dog")), not(term("bird"))])
    );
    assert_eq!(q.terms(), ["bird", "cat", "dog"]);
    assert_eq!(q.scored_terms(), ["cat"]);
    // A double negation includes again, and scores.
    let q = parse("NOT -cats").unwrap();
    assert_eq!(q.scored_terms(), ["cat"]);
    let q = parse("a -(b OR c)").unwrap();
    assert_eq!(
        q.expr(),
        &Expr::And(vec![term("a"), not(Expr::Or(vec![term("b"), term("c")]))])
    );
}

#[test]
fn dashes_and_keywords_inside_words_are_plain_text() {
    // "e-mail" is two words; a dash after a word or before a space is punctuation.
    assert_eq!(
        parse("e-mail").unwrap().expr(),
        &Expr::And(vec![term("e"), term("mail")])
    );
    assert_eq!(
        parse("a - b").unwrap().expr(),
        &Expr::And(vec![term("a"), term("b")])
    );
    assert_eq!(
        parse("a --b").unwrap().expr(),
        &Expr::And(vec![term("a"), not(term("b"))])
    );
    // Lowercase or and not are words; so is OR glued to other text.
    assert_eq!(
        parse("this or not that").unwrap().expr(),
        &Expr::And(vec![term("this"), term("or"), term("not"), term("that")])
    );
    assert_eq!(
        parse("a OR-b").unwrap().expr(),
        &Expr::And(vec![term("a"), term("or"), term("b")])
    );
    // Punctuation is ignored as in documents.
    assert_eq!(parse("C++, !rust?").unwrap().terms(), ["c", "rust"]);
}

#[test]
fn errors_say_what_and_where() {
    let cases: &[(&str, QueryError)] = &[
        ("", QueryError::Empty),
        ("  ?! -", QueryError::Empty),
        ("a \"b c\"", QueryError::Phrase { at: 2 }),
        (
            "a OR",
            QueryError::ExpectedTerm {
                at: 4,
                found: Found::End,
            },
        ),
        (
            "OR a",
            QueryError::ExpectedTerm {
                at: 0,
                found: Found::Or,
            },
        ),
        (
            "a OR OR b",
            QueryError::ExpectedTerm {
                at: 5,
                found: Found::Or,
            },
        ),
        (
            "()",
            QueryError::ExpectedTerm {
                at: 1,
                found: Found::Close,
            },
        ),
        (
            "(a OR)",
            QueryError::ExpectedTerm {
                at: 5,
                found: Found::Close,
            },
        ),
        (
            "NOT",
            QueryError::ExpectedTerm {
                at: 3,
                found: Found::End,
            },
        ),
        (
            "a AND",
            QueryError::ExpectedTerm {
                at: 5,
                found: Found::End,
            },
        ),
        (
            "AND a",
            QueryError::ExpectedTerm {
                at: 0,
                found: Found::And,
            },
        ),
        (
            "a AND OR b",
            QueryError::ExpectedTerm {
                at: 6,
                found: Found::Or,
            },
        ),
        ("a) b", QueryError::UnmatchedClose { at: 1 }),
        ("x (a (b)", QueryError::Unclosed { at: 2 }),
        ("NOT a", QueryError::OnlyExcludes),
        ("-a -b", QueryError::OnlyExcludes),
        ("a OR -b", QueryError::OnlyExcludes),
        ("NOT NOT NOT a", QueryError::OnlyExcludes),
    ];
    for (text, error) in cases {
        assert_eq!(parse(text).as_ref().err(), Some(error), "query {text:?}");
    }
    let message = parse("(a OR)").unwrap_err().to_string();
    assert_eq!(
        message,
        "expected a word, `(`, `NOT` or `-` at byte 5, found `)`"
    );
}

#[test]
fn limits_are_errors() {
    let long = "a ".repeat(SEARCH_QUERY_BYTES_MAX);
    assert_eq!(
        parse(&long).unwrap_err(),
        QueryError::TooLong {
            bytes: long.len(),
            max: SEARCH_QUERY_BYTES_MAX
        }
    );
    let many = "w ".repeat(SEARCH_QUERY_TERMS_MAX + 1);
    let at = 2 * SEARCH_QUERY_TERMS_MAX;
    assert_eq!(
        parse(&many).unwrap_err(),
        QueryError::TooManyTerms {
            at,
            max: SEARCH_QUERY_TERMS_MAX
        }
    );
    assert!(parse(&"w ".repeat(SEARCH_QUERY_TERMS_MAX)).is_ok());
    let deep = format!(
        "{}a{}",
        "(".repeat(SEARCH_QUERY_DEPTH_MAX + 1),
        ")".repeat(40)
    );
    assert_eq!(
        parse(&deep).unwrap_err(),
        QueryError::TooDeep {
            at: SEARCH_QUERY_DEPTH_MAX,
            max: SEARCH_QUERY_DEPTH_MAX
        }
    );
    let ok = format!(
        "{}a{}",
        "(".repeat(SEARCH_QUERY_DEPTH_MAX),
        ")".repeat(SEARCH_QUERY_DEPTH_MAX)
    );
    assert!(parse(&ok).is_ok());
    assert!(matches!(parse(&"-".repeat(4000)), Err(QueryError::Empty)));
    assert!(matches!(
        parse(&"-(".repeat(2000)),
        Err(QueryError::TooDeep { .. })
    ));
}

proptest::proptest! {
    #[test]
    fn any_text_parses_or_errs_without_panic(text in "[a-zA-Z()\"\\- ANDORT\\PC]{0,60}") {
        let _ = parse(&text);
    }
}
