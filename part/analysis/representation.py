"""Representation analysis of the adapter's outputs (the speech vectors spliced into the LLM's input).

One utterance per ASR example of the task dir (at most ``max_per_lang`` per language, a seeded
subset), encoded with ``SpeechLLM.embed_speech`` (encoder + adapter) in eval mode.

Alignment with the LLM's text embeddings
    For an utterance with adapter vectors ``a_1..a_N`` and transcript tokens ``t_1..t_M`` (the LLM's
    tokenizer on the ASR target, as in training), ``e_j`` the LLM's input embedding of ``t_j``:

    - ``precision = 1/N Σ_i max_j cos(a_i, e_j)``: how close each speech vector lies to *some* token of
      its transcript (the primary score, reported as ``alignment``);
    - ``coverage = 1/M Σ_j max_i cos(a_i, e_j)``: how well each transcript token is matched by some
      speech vector;
    - ``shuffled``: ``precision`` against the transcript of another utterance of the same language
      with a different text — what any text of the language scores (shared frequent tokens, the
      anisotropy of the embedding space);
    - ``gain = precision - shuffled``: utterance-specific alignment.

    Each is averaged over the utterances of a language; ``all`` is the mean over languages.

Language-ID probe
    Mean-pooled adapter outputs (over the valid positions of an utterance), standardised with the
    training fold's statistics, classified by multinomial logistic regression (L2 penalty, L-BFGS) in
    stratified k-fold cross-validation, ``k = min(5, smallest language's utterance count)``. Accuracy
    is the share of utterances whose held-out prediction is right; ``chance`` is the share of the
    largest language. High accuracy means the pooled speech vectors still carry the language
    identity (the paper expects language-specific alignment in the within-language phases).

Projection
    PCA of the centred pooled vectors: the first two components and their explained variance ratios.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from part.analysis.data import Batcher, speech_examples
from part.data.sources import ExampleSource


@torch.no_grad()
def adapter_outputs(model, batcher: Batcher, ids: Sequence[str], batch_size: int, device: str = "cpu",
                    progress: bool = True) -> Dict[str, np.ndarray]:
    """Example id -> the adapter's output vectors ``(N, D_llm)`` (float32, padding removed)."""
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    out: Dict[str, np.ndarray] = {}
    try:
        with tqdm(total=len(ids), desc="adapter outputs", unit="utt", disable=not progress) as bar:
            for chunk, speech, lengths in batcher.speech_batches(ids, batch_size, device):
                embeds, out_lens = model.embed_speech(speech, lengths)
                for i, eid in enumerate(chunk):
                    out[eid] = embeds[i, : int(out_lens[i])].float().cpu().numpy()
                bar.update(len(chunk))
    finally:
        model.train(was_training)
    return out


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def _precision_coverage(a: torch.Tensor, e: torch.Tensor) -> Tuple[float, float]:
    sim = _normalise(a) @ _normalise(e).T  # (N, M)
    return float(sim.max(dim=1).values.mean()), float(sim.max(dim=0).values.mean())


@torch.no_grad()
def alignment_scores(outputs: Dict[str, np.ndarray], transcripts: Dict[str, str], langs: Dict[str, str],
                     tokenizer, token_embedding: torch.nn.Module) -> Dict:
    """Adapter-output / transcript-embedding alignment per language (definitions in the module doc)."""
    device = token_embedding.weight.device
    embeds: Dict[str, torch.Tensor] = {}
    for eid in outputs:
        ids = tokenizer.encode(transcripts[eid], add_special_tokens=False)
        if ids:
            embeds[eid] = token_embedding(torch.tensor(ids, device=device)).double().cpu()
    per_lang: Dict[str, Dict[str, List[float]]] = {}
    by_lang: Dict[str, List[str]] = {}
    for eid in sorted(embeds):
        by_lang.setdefault(langs[eid], []).append(eid)
    for lang, eids in by_lang.items():
        scores = per_lang.setdefault(lang, {"precision": [], "coverage": [], "shuffled": []})
        for k, eid in enumerate(eids):
            a = torch.from_numpy(outputs[eid]).double()
            if a.size(0) == 0:
                continue
            precision, coverage = _precision_coverage(a, embeds[eid])
            scores["precision"].append(precision)
            scores["coverage"].append(coverage)
            # The next utterance (cyclically) of the language whose transcript differs.
            for step in range(1, len(eids)):
                other = eids[(k + step) % len(eids)]
                if transcripts[other].strip() != transcripts[eid].strip():
                    scores["shuffled"].append(_precision_coverage(a, embeds[other])[0])
                    break
    result: Dict = {"per_language": {}}
    for lang in sorted(per_lang):
        s = per_lang[lang]
        entry = {"utterances": len(s["precision"])}
        for key in ("precision", "coverage", "shuffled"):
            entry[key] = float(np.mean(s[key])) if s[key] else None
        entry["gain"] = (entry["precision"] - entry["shuffled"]) if entry["shuffled"] is not None else None
        result["per_language"][lang] = entry
    for key in ("precision", "coverage", "shuffled", "gain"):
        values = [e[key] for e in result["per_language"].values() if e[key] is not None]
        result[key] = float(np.mean(values)) if values else None
    return result


def _fit_logistic(x: torch.Tensor, y: torch.Tensor, num_classes: int, l2: float, max_iter: int):
    weight = torch.zeros(x.size(1), num_classes, dtype=x.dtype, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=x.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weight + bias, y) + l2 * (weight * weight).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return weight.detach(), bias.detach()


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold index of every example; each class is spread evenly over the ``k`` folds."""
    rng = np.random.default_rng(seed)
    folds = np.zeros(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        folds[rng.permutation(idx)] = np.arange(len(idx)) % k
    return folds


def language_probe(features: np.ndarray, languages: Sequence[str], seed: int = 0, max_folds: int = 5,
                   l2: float = 1e-2, max_iter: int = 200) -> Dict:
    """Cross-validated accuracy of a logistic-regression language-ID probe (see the module doc)."""
    languages = list(languages)
    classes = sorted(set(languages))
    counts = {c: languages.count(c) for c in classes}
    result: Dict = {"languages": classes, "utterances": counts, "accuracy": None,
                    "chance": max(counts.values()) / len(languages) if languages else None}
    if len(classes) < 2:
        result["note"] = "needs at least two languages"
        return result
    k = min(max_folds, min(counts.values()))
    if k < 2:
        result["note"] = "needs at least two utterances of every language"
        return result
    y_all = np.array([classes.index(lang) for lang in languages])
    x_all = torch.from_numpy(np.asarray(features, dtype=np.float64))
    folds = stratified_folds(y_all, k, seed)
    predictions = np.zeros(len(y_all), dtype=np.int64)
    for fold in range(k):
        test = folds == fold
        x_tr, x_te = x_all[~test], x_all[test]
        mean, std = x_tr.mean(0), x_tr.std(0)
        std = torch.where(std > 1e-8, std, torch.ones_like(std))
        weight, bias = _fit_logistic((x_tr - mean) / std, torch.from_numpy(y_all[~test]), len(classes), l2, max_iter)
        predictions[test] = (((x_te - mean) / std) @ weight + bias).argmax(-1).numpy()
    correct = predictions == y_all
    result.update(accuracy=float(correct.mean()), folds=k,
                  per_language={c: float(correct[y_all == i].mean()) for i, c in enumerate(classes)})
    return result


def pca_2d(features: np.ndarray) -> Tuple[np.ndarray, List[float]]:
    """Coordinates on the first two principal components and their explained variance ratios."""
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    if x.shape[0] < 2:
        return np.zeros((x.shape[0], 2)), [0.0, 0.0]
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    comps = vt[:2]
    coords = x @ comps.T
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    var = s ** 2
    ratios = (var[:2] / var.sum()).tolist() if var.sum() > 0 else [0.0, 0.0]
    return coords, (ratios + [0.0, 0.0])[:2]


def analyse_representations(model, tokenizer, task_dir: ExampleSource, batcher: Batcher, max_per_lang: int = 50,
                            batch_size: int = 8, device: str = "cpu", seed: int = 0,
                            progress: bool = True) -> Tuple[Dict, Dict[str, np.ndarray]]:
    """Alignment, language probe and PCA of one model; returns ``(summary, arrays)``.

    ``arrays`` holds ``ids``, ``languages``, ``pooled`` (mean adapter output per utterance) and ``pca``
    (its 2-D projection), for plots and later inspection.
    """
    ids, transcripts = speech_examples(task_dir, max_per_lang, seed)
    if not ids:
        raise ValueError(f"{task_dir.path}: no example with speech (asr or s2tt) to analyse")
    outputs = adapter_outputs(model, batcher, ids, batch_size, device, progress)
    langs = {eid: task_dir.info[eid].src for eid in ids}
    summary: Dict = {"utterances": len(ids), "examples_per_language": max_per_lang}
    if transcripts is not None:
        summary["alignment"] = alignment_scores(outputs, transcripts, langs, tokenizer, model.token_embedding)
    else:
        summary["alignment"] = None
    kept = [eid for eid in ids if outputs[eid].shape[0] > 0]
    pooled = np.stack([outputs[eid].astype(np.float64).mean(axis=0) for eid in kept]) if kept else np.zeros((0, 1))
    languages = [langs[eid] for eid in kept]
    summary["probe"] = language_probe(pooled, languages, seed=seed)
    coords, ratios = pca_2d(pooled)
    summary["pca_explained_variance"] = ratios
    arrays = {"ids": np.array(kept), "languages": np.array(languages), "pooled": pooled.astype(np.float32),
              "pca": coords.astype(np.float32)}
    return summary, arrays
