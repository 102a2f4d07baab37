//! Search queries: the text a user types, parsed into an expression over tokens.
//!
//! Grammar (docs/SEARCH.md, "Queries"):
//! ```text
//! query := or
//! or    := and ("OR" and)*
//! and   := unary (["AND"] unary)*  terms side by side mean AND; `AND` may be written
//! unary := ("NOT" | "-") unary | word | "(" or ")"
//! ```
//! Words are found exactly as in documents (`unicode_word_indices`) and become tokens by the
//! same rules, so a query word matches the documents that hold its token. `AND`, `OR` and `NOT`
//! are operators only in capitals and standing alone; `-` negates only where a term begins (at
//! the start, after a space or `(`) and directly before a word or `(`, so "e-mail" is the two
//! words "e" and "mail". Other punctuation is ignored, as in documents. A `"` outside a word is
//! refused: phrases are not supported yet. Every error is a value that says what and where
//! (a byte offset into the query text); no input panics, and recursion is bounded by
//! `SEARCH_QUERY_DEPTH_MAX`.

use super::tokens::Tokenizer;
use crate::limits::{SEARCH_QUERY_BYTES_MAX, SEARCH_QUERY_DEPTH_MAX, SEARCH_QUERY_TERMS_MAX};
use std::fmt;
use unicode_segmentation::UnicodeSegmentation;

/// A parsed query: which documents match (`expr`) and which terms score them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    expr: Expr,
    terms: Vec<String>,
    scored: Vec<String>,
}

/// A query expression over tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// Documents holding this token.
    Term(String),
    /// Documents matching every item.
    And(Vec<Expr>),
    /// Documents matching any item.
    Or(Vec<Expr>),
    /// Documents not matching the item.
    Not(Box<Expr>),
}

/// What stood where a term was expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Found {
    End,
    Close,
    Or,
    And,
}

/// Why a query text is not a query. `at` is a byte offset into the query text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum QueryError {
    /// The text is longer than `SEARCH_QUERY_BYTES_MAX`.
    TooLong { bytes: usize, max: usize },
    /// The text holds no word and no operator.
    Empty,
    /// A `"` outside a word: quoted phrases are not supported yet.
    Phrase { at: usize },
    /// A term, `(`, `NOT` or `-` was expected at `at`.
    ExpectedTerm { at: usize, found: Found },
    /// A `)` with no `(` before it.
    UnmatchedClose { at: usize },
    /// The `(` at `at` is never closed.
    Unclosed { at: usize },
    /// The word at `at` is one more than `SEARCH_QUERY_TERMS_MAX`.
    TooManyTerms { at: usize, max: usize },
    /// The `(`, `NOT` or `-` at `at` nests deeper than `SEARCH_QUERY_DEPTH_MAX`.
    TooDeep { at: usize, max: usize },
    /// The query only excludes (like `NOT a` or `a OR -b`): it would match documents by what
    /// they lack, which no index can list without reading every document.
    OnlyExcludes,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::TooLong { bytes, max } => {
                write!(
                    f,
                    "query is {bytes} bytes, over the maximum of {max}: shorten it"
                )
            }
            QueryError::Empty => write!(f, "query has no words: search for at least one word"),
            QueryError::Phrase { at } => write!(
                f,
                "quote at byte {at}: quoted phrases are not supported yet; remove the quotes \
                 to search for the words"
            ),
            QueryError::ExpectedTerm { at, found } => {
                let found = match found {
                    Found::End => "the end of the query",
                    Found::Close => "`)`",
                    Found::Or => "`OR`",
                    Found::And => "`AND`",
                };
                write!(
                    f,
                    "expected a word, `(`, `NOT` or `-` at byte {at}, found {found}"
                )
            }
            QueryError::UnmatchedClose { at } => {
                write!(f, "`)` at byte {at} closes no `(`")
            }
            QueryError::Unclosed { at } => write!(f, "`(` at byte {at} is never closed"),
            QueryError::TooManyTerms { at, max } => {
                write!(
                    f,
                    "word at byte {at} is one more than the maximum of {max} words"
                )
            }
            QueryError::TooDeep { at, max } => write!(
                f,
                "byte {at} nests `(`, `NOT` or `-` deeper than the maximum of {max} levels"
            ),
            QueryError::OnlyExcludes => write!(
                f,
                "query only excludes words: add a word that results must contain (NOT and - \
                 only narrow a search)"
            ),
        }
    }
}

impl std::error::Error for QueryError {}

impl Query {
    /// Parses `text`, turning each word into a token with `tokenizer`.
    pub fn parse(text: &str, tokenizer: &Tokenizer) -> Result<Query, QueryError> {
        if text.len() > SEARCH_QUERY_BYTES_MAX {
            return Err(QueryError::TooLong {
                bytes: text.len(),
                max: SEARCH_QUERY_BYTES_MAX,
            });
        }
        let lexemes = lex(text)?;
        if lexemes.is_empty() {
            return Err(QueryError::Empty);
        }
        let mut parser = Parser {
            lexemes,
            next: 0,
            end: text.len(),
            words: 0,
            tokenizer,
        };
        let expr = parser.or(0)?;
        if let Some(lexeme) = parser.lexemes.get(parser.next) {
            // `or` stops only at the end or at a `)` it does not own.
            assert!(matches!(lexeme.kind, Kind::Close), "parser stopped early");
            return Err(QueryError::UnmatchedClose { at: lexeme.at });
        }
        if !includes(&expr) {
            return Err(QueryError::OnlyExcludes);
        }
        let mut terms = Vec::new();
        let mut scored = Vec::new();
        collect_terms(&expr, false, &mut terms, &mut scored);
        for list in [&mut terms, &mut scored] {
            list.sort();
            list.dedup();
        }
        Ok(Query {
            expr,
            terms,
            scored,
        })
    }

    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Every distinct token the query names, sorted.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// The distinct tokens that score results (BM25), sorted: those under an even number of
    /// negations. A term that only excludes never adds to a score.
    pub fn scored_terms(&self) -> &[String] {
        &self.scored
    }
}

/// True if `expr` matches only documents holding some token it names (under an even number
/// of negations), so its matches can be listed from posting lists. See `index::eval`, which
/// relies on this for the root.
pub(super) fn includes(expr: &Expr) -> bool {
    match expr {
        Expr::Term(_) => true,
        Expr::And(items) => items.iter().any(includes),
        Expr::Or(items) => items.iter().all(includes),
        Expr::Not(item) => excludes(item),
    }
}

/// True if `expr` matches every document except some holding a token it names: the mirror
/// of `includes`.
fn excludes(expr: &Expr) -> bool {
    match expr {
        Expr::Term(_) => false,
        Expr::And(items) => items.iter().all(excludes),
        Expr::Or(items) => items.iter().any(excludes),
        Expr::Not(item) => includes(item),
    }
}

fn collect_terms(expr: &Expr, negated: bool, terms: &mut Vec<String>, scored: &mut Vec<String>) {
    match expr {
        Expr::Term(term) => {
            terms.push(term.clone());
            if !negated {
                scored.push(term.clone());
            }
        }
        Expr::And(items) | Expr::Or(items) => {
            for item in items {
                collect_terms(item, negated, terms, scored);
            }
        }
        Expr::Not(item) => collect_terms(item, !negated, terms, scored),
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind<'a> {
    Word(&'a str),
    Or,
    And,
    Not,
    Open,
    Close,
}

#[derive(Clone, Copy, Debug)]
struct Lexeme<'a> {
    at: usize,
    kind: Kind<'a>,
}

fn lex(text: &str) -> Result<Vec<Lexeme<'_>>, QueryError> {
    let mut lexemes = Vec::new();
    // True where a term may begin: at the start, after a space, `(` or an operator.
    let mut term_start = true;
    let mut gap_start = 0;
    let words = text.unicode_word_indices().map(Some).chain([None]);
    for word in words {
        let gap_end = word.map_or(text.len(), |(start, _)| start);
        for (offset, c) in text[gap_start..gap_end].char_indices() {
            let at = gap_start + offset;
            let next = text[at + c.len_utf8()..].chars().next();
            let kind = match c {
                '(' => Kind::Open,
                ')' => Kind::Close,
                '"' => return Err(QueryError::Phrase { at }),
                // A dash directly before a word or `(` where a term begins; else punctuation.
                '-' if term_start
                    && ((at + 1 == gap_end && word.is_some()) || next == Some('(')) =>
                {
                    Kind::Not
                }
                c => {
                    term_start |= c.is_whitespace();
                    continue;
                }
            };
            term_start = !matches!(kind, Kind::Close);
            lexemes.push(Lexeme { at, kind });
        }
        let Some((at, word)) = word else { break };
        gap_start = at + word.len();
        let alone = text[gap_start..]
            .chars()
            .next()
            .is_none_or(|c| c.is_whitespace() || c == '(' || c == ')');
        let kind = match word {
            "OR" if term_start && alone => Kind::Or,
            "AND" if term_start && alone => Kind::And,
            "NOT" if term_start && alone => Kind::Not,
            _ => Kind::Word(word),
        };
        term_start = !matches!(kind, Kind::Word(_));
        lexemes.push(Lexeme { at, kind });
    }
    Ok(lexemes)
}

struct Parser<'a, 't> {
    lexemes: Vec<Lexeme<'a>>,
    next: usize,
    /// Byte length of the text: where `Found::End` is.
    end: usize,
    words: usize,
    tokenizer: &'t Tokenizer,
}

impl<'a> Parser<'a, '_> {
    fn peek(&self) -> Option<Lexeme<'a>> {
        self.lexemes.get(self.next).copied()
    }

    fn or(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut items = vec![self.and(depth)?];
        while let Some(Lexeme { kind: Kind::Or, .. }) = self.peek() {
            self.next += 1;
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut items = vec![self.unary(depth)?];
        loop {
            match self.peek().map(|l| l.kind) {
                // An explicit `AND` between two terms means what the space means.
                Some(Kind::And) => self.next += 1,
                Some(Kind::Word(_) | Kind::Not | Kind::Open) => {}
                _ => break,
            }
            items.push(self.unary(depth)?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let Some(Lexeme { at, kind }) = self.peek() else {
            return Err(QueryError::ExpectedTerm {
                at: self.end,
                found: Found::End,
            });
        };
        let nests = matches!(kind, Kind::Not | Kind::Open);
        if nests && depth >= SEARCH_QUERY_DEPTH_MAX {
            let max = SEARCH_QUERY_DEPTH_MAX;
            return Err(QueryError::TooDeep { at, max });
        }
        let found = match kind {
            Kind::Word(word) => {
                self.next += 1;
                self.words += 1;
                if self.words > SEARCH_QUERY_TERMS_MAX {
                    let max = SEARCH_QUERY_TERMS_MAX;
                    return Err(QueryError::TooManyTerms { at, max });
                }
                return Ok(Expr::Term(self.tokenizer.token(word)));
            }
            Kind::Not => {
                self.next += 1;
                return Ok(Expr::Not(Box::new(self.unary(depth + 1)?)));
            }
            Kind::Open => {
                self.next += 1;
                let expr = self.or(depth + 1)?;
                return match self.peek() {
                    Some(Lexeme {
                        kind: Kind::Close, ..
                    }) => {
                        self.next += 1;
                        Ok(expr)
                    }
                    _ => Err(QueryError::Unclosed { at }),
                };
            }
            Kind::Close => Found::Close,
            Kind::Or => Found::Or,
            Kind::And => Found::And,
        };
        Err(QueryError::ExpectedTerm { at, found })
    }
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
