//! Reading the index for a set of partitions: statistics, the documents a query matches, and
//! the documents sharing a term with a text. Everything is found through posting lists: no
//! read here visits a document that holds none of the terms asked about.

use super::index::{DocId, Index, Term, TermId};
use super::query::{includes, Expr, Query};
use super::rank::{Candidate, Gathered, Stats};
use super::PartitionSet;

/// A set of documents: exactly these (`In`), or every document of the partitions but these
/// (`Out`). Both lists are sorted doc ids.
enum Set {
    In(Vec<DocId>),
    Out(Vec<DocId>),
}

impl Index {
    /// n, total dl and df of each of `terms` over `partitions` (partitions this index does not
    /// have count nothing).
    pub fn stats<'a>(
        &self,
        terms: impl IntoIterator<Item = &'a str>,
        partitions: &PartitionSet,
    ) -> Stats {
        let mut stats = Stats::default();
        for p in partitions.iter().filter(|&p| p < self.partitions) {
            stats.docs += self.docs_by_partition[p as usize];
            stats.tokens += self.tokens_by_partition[p as usize];
        }
        let filter = self.filter(partitions);
        for name in terms {
            let df = self.term(name).map_or(0, |term| self.df(term, &filter));
            stats.df.insert(name.to_string(), df);
        }
        stats
    }

    /// df of `term` in the filtered partitions (see the `index` module comment for the cost).
    pub(super) fn df(&self, term: &Term, filter: &Option<Vec<bool>>) -> u64 {
        match filter {
            None => term.postings.len() as u64,
            Some(filter) if term.df_by_partition.is_empty() => {
                let holding = term.postings.docs().iter();
                holding
                    .filter(|&&d| filter[self.doc(d).partition as usize])
                    .count() as u64
            }
            Some(filter) => (term.df_by_partition.iter().zip(filter))
                .filter(|&(_, &counted)| counted)
                .map(|(&df, _)| u64::from(df))
                .sum(),
        }
    }

    /// n and total dl of one partition (zero for a partition this index does not have).
    pub fn partition_size(&self, partition: u32) -> (u64, u64) {
        let p = partition as usize;
        match (
            self.docs_by_partition.get(p),
            self.tokens_by_partition.get(p),
        ) {
            (Some(&docs), Some(&tokens)) => (docs, tokens),
            _ => (0, 0),
        }
    }

    /// df of the term `name` in each partition that holds it, ascending by partition. Costs
    /// a step per partition or per posting, whichever the term keeps.
    pub fn df_by_partition(&self, name: &str) -> Vec<(u32, u64)> {
        let Some(term) = self.term(name) else {
            return Vec::new();
        };
        if !term.df_by_partition.is_empty() {
            let counts = (0u32..).zip(term.df_by_partition.iter());
            return counts
                .filter(|(_, &df)| df > 0)
                .map(|(p, &df)| (p, u64::from(df)))
                .collect();
        }
        let mut counts: Vec<(u32, u64)> = Vec::new();
        let mut partitions: Vec<u32> = term
            .postings
            .docs()
            .iter()
            .map(|&d| self.doc(d).partition)
            .collect();
        partitions.sort_unstable();
        for p in partitions {
            match counts.last_mut() {
                Some((last, df)) if *last == p => *df += 1,
                _ => counts.push((p, 1)),
            }
        }
        counts
    }

    /// The documents of `partitions` that `query` matches, each with its dl and the tf of
    /// every scored term it holds; the table is `query.scored_terms()`. Score with
    /// `rank::bm25` and the `stats` of the scored terms.
    pub fn matches(&self, query: &Query, partitions: &PartitionSet) -> Gathered {
        let docs = self.matching(query, partitions);
        let mut tf: Vec<Vec<(u32, u32)>> = vec![Vec::new(); docs.len()];
        for (i, name) in (0u32..).zip(query.scored_terms()) {
            let Some(term_id) = self.term_id(name) else {
                continue;
            };
            let codes = self
                .live_term(term_id)
                .postings
                .gallop(docs.iter().copied());
            for ((slot, &doc), code) in tf.iter_mut().zip(&docs).zip(codes) {
                if let Some(code) = code {
                    slot.push((i, self.tf(term_id, doc, code)));
                }
            }
        }
        Gathered {
            terms: query.scored_terms().to_vec(),
            candidates: self.candidates(&docs, tf),
        }
    }

    /// The documents of `partitions` that `query` matches, ascending.
    pub(super) fn matching(&self, query: &Query, partitions: &PartitionSet) -> Vec<DocId> {
        match self.eval(query.expr(), &self.filter(partitions)) {
            Set::In(docs) => docs,
            // `eval` yields `In` exactly where `includes` holds, and `Query::parse` refuses
            // the queries where it does not.
            Set::Out(_) => unreachable!("a parsed query includes: {}", includes(query.expr())),
        }
    }

    /// The documents of `partitions` holding any of `terms`, each with its whole term vector
    /// (every term it holds and its tf): what a document's TF-IDF norm needs. The table holds
    /// every term of every candidate. Score with `rank::tfidf_cosine` and the `stats` of the
    /// table's terms and the query's.
    pub fn sharing(&self, terms: &[String], partitions: &PartitionSet) -> Gathered {
        let filter = self.filter(partitions);
        let mut docs: Vec<DocId> = Vec::new();
        for term in terms.iter().filter_map(|t| self.term(t)) {
            docs = union(&docs, &self.postings(term, &filter));
        }
        if docs.is_empty() {
            return Gathered::default();
        }
        // The table: every term some candidate holds, sorted by name; `at[t]` is term t's
        // place in it.
        let mut at = vec![u32::MAX; self.terms.len()];
        let mut table: Vec<TermId> = Vec::new();
        for &id in &docs {
            for t in self.doc(id).terms.ids() {
                if at[t as usize] == u32::MAX {
                    at[t as usize] = 0;
                    table.push(t);
                }
            }
        }
        table.sort_unstable_by(|&a, &b| self.live_term(a).name.cmp(&self.live_term(b).name));
        for (i, &t) in (0u32..).zip(&table) {
            at[t as usize] = i;
        }
        let tf: Vec<Vec<(u32, u32)>> = docs
            .iter()
            .map(|&id| {
                let terms = self.doc(id).terms.iter();
                let mut tf: Vec<(u32, u32)> = terms.map(|(t, tf)| (at[t as usize], tf)).collect();
                tf.sort_unstable();
                tf
            })
            .collect();
        Gathered {
            terms: table
                .iter()
                .map(|&t| self.live_term(t).name.to_string())
                .collect(),
            candidates: self.candidates(&docs, tf),
        }
    }

    /// Candidates for `docs` with their tf entries, sorted by key.
    fn candidates(&self, docs: &[DocId], tf: Vec<Vec<(u32, u32)>>) -> Vec<Candidate> {
        let mut candidates: Vec<Candidate> = docs
            .iter()
            .zip(tf)
            .map(|(&id, tf)| {
                let doc = self.doc(id);
                Candidate {
                    key: doc.key.to_vec(),
                    dl: doc.dl,
                    tf,
                }
            })
            .collect();
        candidates.sort_by(|a, b| a.key.cmp(&b.key));
        candidates
    }

    /// Which partitions count, as a table indexed by partition (`None`: all of them).
    pub(super) fn filter(&self, partitions: &PartitionSet) -> Option<Vec<bool>> {
        let mut filter = vec![false; self.partitions as usize];
        for p in partitions.iter().filter(|&p| p < self.partitions) {
            filter[p as usize] = true;
        }
        (!filter.iter().all(|&x| x)).then_some(filter)
    }

    /// The documents holding `term` in the filtered partitions, sorted.
    fn postings(&self, term: &Term, filter: &Option<Vec<bool>>) -> Vec<DocId> {
        let ids = term.postings.docs().iter().copied();
        match filter {
            None => ids.collect(),
            Some(filter) => ids
                .filter(|&id| filter[self.doc(id).partition as usize])
                .collect(),
        }
    }

    fn eval(&self, expr: &Expr, filter: &Option<Vec<bool>>) -> Set {
        match expr {
            Expr::Term(name) => Set::In(
                self.term(name)
                    .map_or(Vec::new(), |t| self.postings(t, filter)),
            ),
            Expr::Not(item) => match self.eval(item, filter) {
                Set::In(docs) => Set::Out(docs),
                Set::Out(docs) => Set::In(docs),
            },
            Expr::And(items) => {
                let mut sets = items.iter().map(|item| self.eval(item, filter));
                let first = sets.next().expect("an And has items");
                sets.fold(first, |a, b| match (a, b) {
                    (Set::In(a), Set::In(b)) => Set::In(intersection(&a, &b)),
                    (Set::In(a), Set::Out(b)) | (Set::Out(b), Set::In(a)) => {
                        Set::In(difference(&a, &b))
                    }
                    (Set::Out(a), Set::Out(b)) => Set::Out(union(&a, &b)),
                })
            }
            Expr::Or(items) => {
                let mut sets = items.iter().map(|item| self.eval(item, filter));
                let first = sets.next().expect("an Or has items");
                sets.fold(first, |a, b| match (a, b) {
                    (Set::In(a), Set::In(b)) => Set::In(union(&a, &b)),
                    (Set::In(a), Set::Out(b)) | (Set::Out(b), Set::In(a)) => {
                        Set::Out(difference(&b, &a))
                    }
                    (Set::Out(a), Set::Out(b)) => Set::Out(intersection(&a, &b)),
                })
            }
        }
    }
}

fn intersection(a: &[DocId], b: &[DocId]) -> Vec<DocId> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn union(a: &[DocId], b: &[DocId]) -> Vec<DocId> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len() + b.len()));
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && a[i] < b[j]) {
            out.push(a[i]);
            i += 1;
        } else if i == a.len() || b[j] < a[i] {
            out.push(b[j]);
            j += 1;
        } else {
            out.push(a[i]);
            i += 1;
            j += 1;
        }
    }
    out
}

/// `a` without the ids in `b`.
fn difference(a: &[DocId], b: &[DocId]) -> Vec<DocId> {
    let mut j = 0;
    a.iter()
        .copied()
        .filter(|&x| {
            while j < b.len() && b[j] < x {
                j += 1;
            }
            j == b.len() || b[j] != x
        })
        .collect()
}
