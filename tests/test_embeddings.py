"""The embedding matrix, the neural LM, and the toolkit: corpus streaming, vectors, formats, evaluation,
plots, and the planted corpus."""

from __future__ import annotations

import itertools
import struct

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlzoo.embeddings.corpus import Corpus, WordCounts, iter_chunks, tokenize
from dlzoo.embeddings.evaluate import (evaluate_analogies, evaluate_similarity, read_analogies,
                                       write_analogies)
from dlzoo.embeddings.planted import COUNTRIES, PEOPLE, planted_analogies, planted_corpus, write_planted
from dlzoo.embeddings.plot import pca_2d, plot_words
from dlzoo.embeddings.vectors import (KeyedVectors, load_glove, load_vectors, load_word2vec, save_glove,
                                      save_word2vec)
from dlzoo.models.neural_lm import NeuralLM


# --- the embedding matrix and the neural language model -------------------------------------------------

def test_one_hot_times_e_is_the_lookup():
    model = NeuralLM(vocab_size=11, context_size=3, embed_dim=5)
    ids = torch.tensor([[0, 4, 10], [3, 3, 7]])
    e = model.embedding.weight  # E (V, m)
    one_hot = F.one_hot(ids, 11).float()  # (B, n, V)
    torch.testing.assert_close(one_hot @ e, model.embedding(ids))
    torch.testing.assert_close(one_hot @ e, e[ids])


def test_neural_lm_is_bengio_eq_1():
    torch.manual_seed(0)
    model = NeuralLM(vocab_size=13, context_size=4, embed_dim=3, hidden_dim=7, direct=True)
    context = torch.randint(0, 13, (5, 4))
    x = model.embedding.weight[context].reshape(5, 12)  # the 4 embeddings side by side
    hidden = torch.tanh(x @ model.hidden.weight.T + model.hidden.bias)  # tanh(d + H x)
    y = model.output.bias + hidden @ model.output.weight.T + x @ model.direct.weight.T  # b + U h + W x
    torch.testing.assert_close(model(context), y)
    assert NeuralLM(13, context_size=4).direct is None  # the course's version has no direct connections
    with pytest.raises(ValueError, match=r"shape \(B, 4\)"):
        model(context[:, :3])
    with pytest.raises(ValueError, match="ids"):
        model(torch.full((1, 4), 13))


def test_neural_lm_learns_a_next_word_rule():
    torch.manual_seed(0)
    v, n = 7, 2
    context = torch.cartesian_prod(torch.arange(v), torch.arange(v))  # (49, 2) every context
    target = (context[:, 0] + 2 * context[:, 1]) % v  # the next word is a function of the last two
    model = NeuralLM(v, context_size=n, embed_dim=8, hidden_dim=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(150):
        optimizer.zero_grad()
        F.cross_entropy(model(context), target).backward()
        optimizer.step()
    assert (model(context).argmax(1) == target).float().mean() == 1.0


# --- corpus ------------------------------------------------------------------------------------------------

def test_tokenize_and_corpus_file(tmp_path):
    assert tokenize("O'er the King's 2 hills!") == ["o'er", "the", "king's", "2", "hills"]
    path = tmp_path / "text.txt"
    path.write_text("One two three four five\n\nsix SEVEN\n", encoding="utf-8")
    assert list(Corpus(path, max_sentence_length=2)) == [["one", "two"], ["three", "four"], ["five"],
                                                         ["six", "seven"]]  # the empty line yields nothing
    with pytest.raises(ValueError, match="does not exist"):
        Corpus(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="str"):
        list(Corpus(["not tokenized"]))


def test_word_counts_order_and_min_count():
    vocab = WordCounts.build([["b", "a", "c", "a"], ["b", "d", "a"]], min_count=2)
    assert vocab.words == ["a", "b"] and vocab.counts.tolist() == [3, 2] and vocab.total_words == 7
    assert vocab.encode(["c", "b", "a", "zz"]) == [1, 0]
    with pytest.raises(ValueError, match="empty"):
        WordCounts.build([["a"]], min_count=2)


def test_chunks_hold_whole_sentences_and_stay_lazy():
    vocab = WordCounts(["x", "y"], np.array([5, 5]), total_words=10)
    sentences = itertools.cycle([["x", "y", "q"], ["y"], ["y", "x"]])  # endless; "q" is unknown
    first, second = itertools.islice(iter_chunks(sentences, vocab, chunk_words=5), 2)
    # 3 + 1 + 2 = 6 >= 5 tokens: "q" is dropped, then the sentence left with one word (no context)
    assert first.ids.tolist() == [0, 1, 1, 0] and first.sentence.tolist() == [0, 0, 1, 1]
    assert first.raw_words == 6
    assert second.ids.tolist() == first.ids.tolist()


# --- vectors, analogies and formats ---------------------------------------------------------------------

def _toy_vectors() -> KeyedVectors:
    # gender on axis 0, royalty on axis 1, a shared "person" component on axis 2
    words = ["man", "woman", "king", "queen", "apple"]
    vectors = np.array([[1, 0, 3], [-1, 0, 3], [1, 2, 3], [-1, 2, 3], [0, 0, -1]], dtype=np.float32)
    return KeyedVectors(words, vectors)


def test_similarity_and_nearest():
    kv = _toy_vectors()
    a, b = kv["king"], kv["queen"]
    assert kv.similarity("king", "queen") == pytest.approx(float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
    near = kv.nearest("man", topn=4)
    assert [w for w, _ in near][:2] == ["king", "woman"] and "man" not in [w for w, _ in near]
    assert [s for _, s in near] == sorted((s for _, s in near), reverse=True)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        kv.similarity("king", "knight")
    with pytest.raises(ValueError, match="shape"):
        kv.nearest(np.zeros(2))


def test_analogy_excludes_the_question_words():
    kv = _toy_vectors()
    assert kv.analogy("man", "woman", "king")[0][0] == "queen"
    assert kv.analogy("man", "king", "woman")[0][0] == "queen"
    # king - man + man = king itself would win; the inputs are excluded, so the next word answers
    assert kv.analogy("man", "man", "king")[0][0] != "king"


def test_matrix_for_another_vocabulary():
    kv = _toy_vectors()
    rows, missing = kv.matrix_for(["<pad>", "queen", "man"])
    np.testing.assert_array_equal(rows[1:], kv.vectors[[3, 0]])
    assert missing == ["<pad>"] and rows.shape == (3, 3)


@pytest.mark.parametrize("fmt", ["glove", "text", "binary"])
def test_formats_round_trip(tmp_path, fmt):
    kv = KeyedVectors(["the", "naïve", "x"], np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32))
    path = tmp_path / ("v.bin" if fmt == "binary" else "v.txt")
    if fmt == "glove":
        save_glove(kv, path)
        back = load_glove(path)
    else:
        save_word2vec(kv, path, binary=fmt == "binary")
        back = load_word2vec(path, binary=fmt == "binary")
    assert back.words == kv.words
    np.testing.assert_array_equal(back.vectors, kv.vectors)  # repr/float32 bytes are exact
    auto = load_vectors(path)
    assert auto.words == kv.words and np.array_equal(auto.vectors, kv.vectors)


def test_word2vec_binary_layout(tmp_path):
    path = tmp_path / "v.bin"
    save_word2vec(KeyedVectors(["ab", "c"], np.array([[1.5, -2.0], [0.25, 8.0]])), path, binary=True)
    expected = b"2 2\n" + b"ab " + struct.pack("<2f", 1.5, -2.0) + b"\n" + b"c " + struct.pack("<2f", 0.25, 8.0) + b"\n"
    assert path.read_bytes() == expected
    # word2vec.c's own files may omit the newline after a vector
    path.write_bytes(b"2 2\nab " + struct.pack("<2f", 1.5, -2.0) + b"c " + struct.pack("<2f", 0.25, 8.0))
    assert load_word2vec(path, binary=True).words == ["ab", "c"]


def test_format_errors(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("a 1 2 3\nb 1 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2 has 2 numbers, expected 3"):
        load_glove(path)
    path.write_text("not a header\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header"):
        load_word2vec(path)
    path.write_bytes(b"3 2\nab " + struct.pack("<2f", 1.0, 2.0))
    with pytest.raises(ValueError, match="file ends"):
        load_word2vec(path, binary=True)


def test_formats_interoperate_with_gensim(tmp_path):
    gensim_kv = pytest.importorskip("gensim.models").KeyedVectors
    words = ["alpha", "beta", "gamma"]
    vectors = np.random.default_rng(1).normal(size=(3, 5)).astype(np.float32)
    for binary in (False, True):
        ours, theirs = tmp_path / f"ours{binary}", tmp_path / f"theirs{binary}"
        save_word2vec(KeyedVectors(words, vectors), ours, binary=binary)
        loaded = gensim_kv.load_word2vec_format(str(ours), binary=binary)
        assert loaded.index_to_key == words and np.allclose(loaded.vectors, vectors)
        loaded.save_word2vec_format(str(theirs), binary=binary)
        back = load_word2vec(theirs, binary=binary)
        assert back.words == words and np.allclose(back.vectors, vectors)


# --- evaluation ---------------------------------------------------------------------------------------

def test_analogy_file_round_trip_and_errors(tmp_path):
    questions = [("family", "man", "woman", "king", "queen"), ("fruit", "apple", "apples", "pear", "pears")]
    path = tmp_path / "q.txt"
    write_analogies(questions, path)
    assert path.read_text().splitlines()[0] == ": family"
    assert read_analogies(path) == questions
    path.write_text("man woman king queen\n")
    with pytest.raises(ValueError, match="before any"):
        read_analogies(path)
    path.write_text(": s\nman woman king\n")
    with pytest.raises(ValueError, match="4 words"):
        read_analogies(path)


def test_evaluate_analogies_counts(tmp_path):
    kv = _toy_vectors()
    path = tmp_path / "q.txt"
    path.write_text(": gender\nMan Woman King Queen\nwoman man queen king\n: royalty\nman king woman queen\n"
                    "man king woman apple\nman knight woman dame\n")
    score = evaluate_analogies(kv, path)
    assert (score.correct, score.counted, score.skipped) == (3, 4, 1)
    assert score.sections == {"gender": (2, 2), "royalty": (1, 2)}
    assert score.accuracy == 0.75
    assert evaluate_analogies(kv, path, lowercase=False).counted == 3  # "Man Woman King Queen" unknown
    assert evaluate_analogies(kv, path, restrict_vocab=4).counted == 3  # apple is word 5


def _structured_vectors(seed: int = 0) -> KeyedVectors:
    """Vectors with planted offsets plus noise: the analogies are partly right, so counts are informative."""
    rng = np.random.default_rng(seed)
    words, rows = [], []
    gender, plural = rng.normal(size=20), rng.normal(size=20)
    for male, female, males, females, _ in PEOPLE:
        base = rng.normal(size=20) * 2
        for word, v in ((male, base), (female, base + gender), (males, base + plural),
                        (females, base + gender + plural)):
            words.append(word)
            rows.append(v + rng.normal(size=20) * 0.6)
    return KeyedVectors(words, np.array(rows))


def test_evaluate_analogies_agrees_with_gensim():
    models = pytest.importorskip("gensim.models")
    kv = _structured_vectors()
    questions = [q for q in planted_analogies() if q[0] in ("gender", "plural")]
    ours = evaluate_analogies(kv, questions)
    assert 0.2 < ours.accuracy < 0.95  # neither trivial nor hopeless
    theirs = models.KeyedVectors(kv.dim)
    theirs.add_vectors(kv.words, kv.vectors)
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        write_analogies(questions, f.name)
    total, sections = theirs.evaluate_word_analogies(f.name)
    for section in sections[:-1]:  # the last one is gensim's "Total accuracy"
        assert ours.sections[section["section"]] == (len(section["correct"]),
                                                     len(section["correct"]) + len(section["incorrect"]))
    assert ours.accuracy == pytest.approx(total)


def test_evaluate_similarity(tmp_path):
    kv = _toy_vectors()
    path = tmp_path / "sim.tsv"
    path.write_text("# word1\tword2\tscore\nking\tqueen\t8.5\nman\tapple\t0.5\nking\tman\t7\n"
                    "woman\tapple\t1\nman\tunicorn\t3\n")
    score = evaluate_similarity(kv, path)
    cosines = [kv.similarity(a, b) for a, b in [("king", "queen"), ("man", "apple"), ("king", "man"),
                                                 ("woman", "apple")]]
    from scipy.stats import spearmanr
    assert score.spearman == pytest.approx(spearmanr([8.5, 0.5, 7, 1], cosines).statistic)
    assert (score.pairs, score.oov_pairs) == (4, 1)
    models = pytest.importorskip("gensim.models")
    theirs = models.KeyedVectors(kv.dim)
    theirs.add_vectors(kv.words, kv.vectors)
    _, gensim_spearman, _ = theirs.evaluate_word_pairs(str(path))
    assert score.spearman == pytest.approx(gensim_spearman.statistic)


# --- plots ------------------------------------------------------------------------------------------

def test_pca_matches_scikit_learn():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).normal(size=(30, 6)) * np.arange(1, 7)
    np.testing.assert_allclose(pca_2d(x), PCA(2).fit_transform(x), atol=1e-8)  # signs included
    with pytest.raises(ValueError, match="PCA needs"):
        pca_2d(x[:1])


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_plot_writes_a_png(tmp_path, method):
    kv = _structured_vectors()
    words = kv.words[:12]
    xy = plot_words(kv, words, tmp_path / "plot.png", method=method)
    assert xy.shape == (12, 2) and np.isfinite(xy).all()
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        plot_words(kv, ["nobody"], tmp_path / "x.png")


def test_plot_rejects_unknown_method(tmp_path):
    with pytest.raises(ValueError, match="unknown method"):
        plot_words(_toy_vectors(), ["man", "woman"], tmp_path / "x.png", method="umap")


# --- the planted corpus --------------------------------------------------------------------------------

def test_planted_corpus_is_seeded_and_consistent(tmp_path):
    a, b = planted_corpus(sentences_per_word=5, seed=3), planted_corpus(sentences_per_word=5, seed=3)
    assert a == b and a != planted_corpus(sentences_per_word=5, seed=4)
    vocabulary = {w for sentence in a for w in sentence}
    questions = planted_analogies(seed=3)
    assert {q[0] for q in questions} == {"gender", "royalty", "plural", "capital"}
    assert all(set(q[1:]) <= vocabulary and len(set(q[1:])) == 4 for q in questions)
    by_section = {s: [q[1:] for q in questions if q[0] == s] for s in ("gender", "capital")}
    assert ("man", "woman", "king", "queen") in by_section["gender"]
    capitals = {capital: country for country, capital, _ in COUNTRIES}
    assert all(capitals[a] == b and capitals[c] == d for a, b, c, d in by_section["capital"])
    corpus_path, questions_path = write_planted(tmp_path, sentences_per_word=5, seed=3)
    assert read_analogies(questions_path) == questions
    assert [line.split() for line in corpus_path.read_text().splitlines()] == a
    with pytest.raises(ValueError, match="noise"):
        planted_corpus(noise=0.6)
