"""Samples in, token ids and completion-only labels out; batches with or without packing.

The host hands the trainer normalized samples, one JSON object per line:
``{"line": 12, "system": "..." | null, "turns": [{"role": "user" | "model" | "tool", "text": "..."}]}``
where ``line`` is the 1-based line of the sample in the user's dataset. The conversion from every
dataset format to this shape lives in one place, the extension's core (src/core/convert.ts).
"""

import json
import random

from .events import TrainerError

IGNORE = -100


class Sample:
    __slots__ = ("line", "system", "turns", "source")

    def __init__(self, line, system, turns, source):
        self.line = line
        self.system = system
        self.turns = turns  # list of (role, text), role in user | model | tool
        self.source = source  # "train" or "validation": the file the line belongs to


def load_samples(path, source):
    samples = []
    try:
        f = open(path, encoding="utf-8")
    except OSError as err:
        raise TrainerError(f"cannot read the {source} samples {path}: {err.strerror}") from err
    with f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
                turns = [(t["role"], t["text"]) for t in obj["turns"]]
                line = int(obj["line"])
                system = obj.get("system")
            except (ValueError, KeyError, TypeError) as err:
                raise TrainerError(f"{path}:{number}: not a normalized sample ({err})") from err
            for role, text in turns:
                if role not in ("user", "model", "tool") or not isinstance(text, str):
                    raise TrainerError(f"{path}:{number}: turn role must be user, model or tool, with text")
            if not any(role == "model" for role, _ in turns):
                continue
            samples.append(Sample(line, system if isinstance(system, str) else None, turns, source))
    return samples


def split(samples, fraction, seed):
    """Hold out a seeded random fraction of the samples for evaluation (at least one of each side)."""
    if fraction <= 0 or len(samples) < 2:
        return samples, []
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    n_eval = min(len(samples) - 1, max(1, round(len(samples) * fraction)))
    held = set(order[:n_eval])
    train = [s for i, s in enumerate(samples) if i not in held]
    evals = [s for i, s in enumerate(samples) if i in held]
    return train, evals


class Encoded:
    """One sample as token ids, with labels only on the model's tokens."""

    __slots__ = ("sample", "ids", "labels", "spans")

    def __init__(self, sample, ids, labels, spans):
        self.sample = sample
        self.ids = ids
        self.labels = labels
        self.spans = spans  # [(start, end, turn_index)] of each model turn's tokens


def encode(chat, sample):
    """Token ids and completion-only labels through the chat format's own rendering.

    The tokens of model turn i are those between the rendering of the turns before it (with the
    generation prompt, i.e. up to where the model starts writing) and the rendering of the turns
    up to and including it. That holds for any template whose rendering of a conversation starts
    with the rendering of its beginning; when a template breaks that (some drop earlier reasoning),
    only the last model turn is learned, and the caller is told.
    """
    turns = sample.turns
    full = chat.render(sample.system, turns, False)
    labels = [IGNORE] * len(full)
    spans = []
    consistent = True
    for i, (role, _) in enumerate(turns):
        if role != "model":
            continue
        start_ids = chat.render(sample.system, turns[:i], True)
        end_ids = chat.render(sample.system, turns[: i + 1], False) if i + 1 < len(turns) else full
        if full[: len(start_ids)] != start_ids or full[: len(end_ids)] != end_ids or len(end_ids) <= len(start_ids):
            consistent = False
            break
        spans.append((len(start_ids), len(end_ids), i))
    if not consistent:
        last = max(i for i, (role, _) in enumerate(turns) if role == "model")
        prefix = chat.render(sample.system, turns[:last], True)
        whole = chat.render(sample.system, turns[: last + 1], False)
        if whole[: len(prefix)] != prefix:
            raise TrainerError(f"line {sample.line}: the chat template renders this conversation inconsistently; cannot tell the model's tokens apart")
        full, labels, spans = whole, [IGNORE] * len(whole), [(len(prefix), len(whole), last)]
    for start, end, _ in spans:
        labels[start:end] = full[start:end]
    return Encoded(sample, full, labels, spans), consistent


def encode_all(chat, samples, max_length):
    """Encode every sample; those longer than max_length are set aside, never cut."""
    kept, too_long, inconsistent = [], [], 0
    for s in samples:
        enc, consistent = encode(chat, s)
        inconsistent += 0 if consistent else 1
        if len(enc.ids) > max_length:
            too_long.append((s, len(enc.ids)))
        else:
            kept.append(enc)
    return kept, too_long, inconsistent


def answer_only(chat, sample):
    """The model's turns with no instruction before them (the denominator of the IFD ratio)."""
    out = []
    for i, (role, text) in enumerate(sample.turns):
        if role == "model":
            ids, start = chat.answer_only(text)
            labels = [IGNORE] * start + ids[start:]
            out.append(Encoded(sample, ids, labels, [(start, len(ids), i)]))
    return out


def pack(encoded, max_length):
    """First-fit decreasing into rows of at most max_length tokens; a sample is never split."""
    rows, room = [], []
    for enc in sorted(encoded, key=lambda e: len(e.ids), reverse=True):
        n = len(enc.ids)
        for r, free in enumerate(room):
            if n <= free:
                rows[r].append(enc)
                room[r] -= n
                break
        else:
            rows.append([enc])
            room.append(max_length - n)
    return rows


def epoch_rows(encoded, cfg, epoch):
    """The rows of one epoch in training order: packed rows, or single samples grouped by length."""
    rng = random.Random(cfg["seed"] * 1000003 + epoch)
    if cfg["packing"]:
        rows = pack(encoded, cfg["max_length"])
        rng.shuffle(rows)
        return rows
    order = list(encoded)
    rng.shuffle(order)
    if cfg.get("group_by_length", True):
        # Sort within windows of 32 batches so a batch holds similar lengths (little padding),
        # then shuffle the batches so the order of lengths stays random.
        window = cfg["batch_size"] * 32
        order = [e for i in range(0, len(order), window) for e in sorted(order[i : i + window], key=lambda e: len(e.ids))]
        batches = [order[i : i + cfg["batch_size"]] for i in range(0, len(order), cfg["batch_size"])]
        rng.shuffle(batches)
        return [[e] for b in batches for e in b]
    return [[e] for e in order]


def batches_of(rows, batch_size):
    return [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]


def collate(rows, pad_id, torch):
    """Rows (each a list of samples sharing one sequence) to padded tensors.

    position_ids restart at 0 for each sample and segment_ids number the samples of a row from 1
    (0 is padding), so attention never crosses from one packed sample into another.
    """
    width = max(sum(len(e.ids) for e in row) for row in rows)
    n = len(rows)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    labels = torch.full((n, width), IGNORE, dtype=torch.long)
    positions = torch.zeros((n, width), dtype=torch.long)
    segments = torch.zeros((n, width), dtype=torch.long)
    for r, row in enumerate(rows):
        at = 0
        for k, enc in enumerate(row, 1):
            m = len(enc.ids)
            input_ids[r, at : at + m] = torch.tensor(enc.ids, dtype=torch.long)
            lab = torch.tensor(enc.labels, dtype=torch.long)
            lab[0] = IGNORE  # the first token of a sample is never a target (nothing before it in its sample)
            labels[r, at : at + m] = lab
            positions[r, at : at + m] = torch.arange(m)
            segments[r, at : at + m] = k
            at += m
    return {
        "input_ids": input_ids,
        "labels": labels,
        "position_ids": positions,
        "segment_ids": segments,
        "packed": any(len(row) > 1 for row in rows),
        "tokens": int((segments > 0).sum()),
    }
