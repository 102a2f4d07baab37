//! Reading the index for a set of partitions: statistics, the documents a query matches, and
//! the documents sharing a term with a text. Everything is found through posting lists: no
//! read here visits a document that holds none of the terms asked about.

use super::index::{DocId, Index, Term};
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
    fn df(&self, term: &Term, filter: &Option<Vec<bool>>) -> u64 {
        match filter {
            None => term.postings.len() as u64,
            Some(filter) if term.df_by_partition.is_empty() => {
                let holding = term.postings.iter();
                holding
                    .filter(|p| filter[self.doc(p.doc).partition as usize])
                    .count() as u64
            }
            Some(filter) => term
                .df_by_partition
                .iter()
                .filter(|&&(p, _)| filter[p as usize])
                .map(|&(_, df)| u64::from(df))
                .sum(),
        }
    }

    /// The documents of `partitions` that `query` matches, each with its dl and the tf of
    /// every scored term it holds; the table is `query.scored_terms()`. Score with
    /// `rank::bm25` and the `stats` of the scored terms.
    pub fn matches(&self, query: &Query, partitions: &PartitionSet) -> Gathered {
        let filter = self.filter(partitions);
        let docs = match self.eval(query.expr(), &filter) {
            Set::In(docs) => docs,
            // `eval` yields `In` exactly where `includes` holds, and `Query::parse` refuses
            // the queries where it does not.
            Set::Out(_) => unreachable!("a parsed query includes: {}", includes(query.expr())),
        };
        let mut tf: Vec<Vec<(u32, u32)>> = vec![Vec::new(); docs.len()];
        for (i, name) in (0u32..).zip(query.scored_terms()) {
            let Some(term) = self.term(name) else {
                continue;
            };
            for (slot, f) in tf.iter_mut().zip(term.tfs(docs.iter().copied())) {
                if f > 0 {
                    slot.push((i, f));
                }
            }
        }
        Gathered {
            terms: query.scored_terms().to_vec(),
            candidates: self.candidates(&docs, tf),
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
        // Group the candidates by term (a counting sort over term ids, one counter per term
        // of the vocabulary): `holders[start[t]..start[t + 1]]` are the candidates holding
        // term t, ascending, so each term's postings are read once, in order.
        let mut start = vec![0usize; self.terms.len() + 1];
        for &id in &docs {
            for &t in self.doc(id).terms.iter() {
                start[t as usize + 1] += 1;
            }
        }
        for t in 0..self.terms.len() {
            start[t + 1] += start[t];
        }
        let mut fill = start.clone();
        let mut holders = vec![0usize; start[self.terms.len()]];
        for (c, &id) in docs.iter().enumerate() {
            for &t in self.doc(id).terms.iter() {
                holders[fill[t as usize]] = c;
                fill[t as usize] += 1;
            }
        }
        // The table: every term some candidate holds, sorted by name.
        let mut table: Vec<(&str, usize)> = (0..self.terms.len())
            .filter(|&t| start[t + 1] > start[t])
            .map(|t| (self.term_name(t), t))
            .collect();
        table.sort_unstable();
        let mut tf: Vec<Vec<(u32, u32)>> = docs
            .iter()
            .map(|&id| Vec::with_capacity(self.doc(id).terms.len()))
            .collect();
        for (i, &(_, t)) in (0u32..).zip(&table) {
            let held = &holders[start[t]..start[t + 1]];
            let term = self.terms[t]
                .as_ref()
                .expect("a candidate's terms are live");
            for (&c, f) in held.iter().zip(term.tfs(held.iter().map(|&c| docs[c]))) {
                tf[c].push((i, f));
            }
        }
        Gathered {
            terms: table
                .into_iter()
                .map(|(name, _)| name.to_string())
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

    fn term_name(&self, id: usize) -> &str {
        self.terms[id].as_ref().map_or("", |t| &t.name)
    }

    /// Which partitions count, as a table indexed by partition (`None`: all of them).
    fn filter(&self, partitions: &PartitionSet) -> Option<Vec<bool>> {
        let mut filter = vec![false; self.partitions as usize];
        for p in partitions.iter().filter(|&p| p < self.partitions) {
            filter[p as usize] = true;
        }
        (!filter.iter().all(|&x| x)).then_some(filter)
    }

    /// The documents holding `term` in the filtered partitions, sorted.
    fn postings(&self, term: &Term, filter: &Option<Vec<bool>>) -> Vec<DocId> {
        let ids = term.postings.iter().map(|p| p.doc);
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
