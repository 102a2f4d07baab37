"""Recomputes the worked examples of docs/SEARCH.md independently of the Rust code.

BM25 by the formula; TF-IDF cosines with scikit-learn's TfidfVectorizer (default settings)
over the token lists Tern's tokenizer produces (core/src/search/examples.rs asserts those
token lists and these numbers). Needs scikit-learn and numpy:

    python3 -m venv venv && venv/bin/pip install scikit-learn numpy
    venv/bin/python scripts/search_crosscheck.py
"""

import math

import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import linear_kernel

K1, B = 1.2, 0.75

EXAMPLES = {
    "founding": {
        "docs": {
            "doc1": "python is a program languag",
            "doc2": "java is also a program languag",
        },
        # (query, its scored terms, the keys it matches)
        "search": [
            ("Python programming", ["python", "program"], ["doc1"]),
            ("programming language", ["program", "languag"], ["doc1", "doc2"]),
        ],
        "similar": "code languag",  # "coding languages"
    },
    "cats": {
        "docs": {
            "k1": "the cat sat on the mat",
            "k2": "cat chase mice the mice run",
            "k3": "a dog the dog chase the cat",
            "k4": "",
        },
        "search": [
            ("cat", ["cat"], ["k1", "k2", "k3"]),
            ("dog OR mice", ["dog", "mice"], ["k2", "k3"]),
            ("cats -mice", ["cat"], ["k1", "k3"]),
            ("the the cat", ["cat", "the"], ["k1", "k2", "k3"]),
        ],
        "similar": "dog chase cat",  # "Dogs chasing cats"
    },
}


def bm25(docs, terms, matched):
    n = len(docs)
    avgdl = sum(len(t) for t in docs.values()) / n
    out = {}
    for key in matched:
        tokens = docs[key]
        score = 0.0
        for term in sorted(set(terms)):
            tf = tokens.count(term)
            if tf == 0:
                continue
            df = sum(1 for t in docs.values() if term in t)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * len(tokens) / avgdl))
        out[key] = score
    return n, avgdl, out


def main():
    print(f"scikit-learn {sklearn.__version__}")
    for name, ex in EXAMPLES.items():
        keys = list(ex["docs"])
        texts = [ex["docs"][k] for k in keys]
        docs = {k: ex["docs"][k].split() for k in keys}
        print(f"\n== {name}")
        for query, terms, matched in ex["search"]:
            n, avgdl, scores = bm25(docs, terms, matched)
            print(f"bm25 {query!r} scored by {terms}: n={n} avgdl={avgdl:.6g}")
            for term in sorted(set(terms)):
                df = sum(1 for t in docs.values() if term in t)
                print(f"  idf({term}) = {math.log(1 + (n - df + 0.5) / (df + 0.5)):.6g} (df={df})")
            for key, score in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])):
                print(f"  {key}: {score:.6g}")
        vec = TfidfVectorizer(tokenizer=lambda s: s.split(), lowercase=False, token_pattern=None)
        matrix = vec.fit_transform(texts)
        vocab = vec.get_feature_names_out()
        print("tf-idf idf:", {t: round(float(i), 6) for t, i in zip(vocab, vec.idf_)})
        for key, row in zip(keys, matrix.toarray()):
            print(f"  {key}:", {t: round(float(w), 6) for t, w in zip(vocab, row) if w})
        query = vec.transform([ex["similar"]])
        print(f"  query {ex['similar']!r}:", {t: round(float(w), 6) for t, w in zip(vocab, query.toarray()[0]) if w})
        cosines = linear_kernel(query, matrix)[0]
        for key, c in sorted(zip(keys, cosines), key=lambda kc: (-kc[1], kc[0])):
            print(f"  cosine {key}: {c:.6g}")


if __name__ == "__main__":
    main()
