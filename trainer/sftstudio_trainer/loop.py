"""Training, evaluation and scoring, reported as events."""

import glob
import math
import os
import platform
import resource
import shutil
import sys
import time

from . import data, tiny
from .events import TrainerError, emit, log


class Cancelled(Exception):
    """SIGTERM (or the host going away) before the training loop could stop at a step boundary."""


class Control:
    """What the signal handler and the stdin watcher tell the loop."""

    def __init__(self):
        self.cancel_reason = None
        self.in_loop = False

    def cancel(self, reason):
        if self.cancel_reason is None:
            self.cancel_reason = reason
        if not self.in_loop:
            raise Cancelled(reason)


def require_torch():
    try:
        import torch
    except ImportError as err:
        raise TrainerError(
            f"PyTorch is not installed for {sys.executable} ({err})",
            hint=f"{sys.executable} -m pip install torch   (on Debian or Ubuntu: sudo apt-get install python3-torch)",
            kind="missing_package",
        ) from err
    return torch


def pick_device(torch, cfg):
    want = cfg["device"]
    if want == "auto":
        if torch.cuda.is_available():
            want = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            want = "mps"
        else:
            want = "cpu"
    if want == "cuda" and not torch.cuda.is_available():
        raise TrainerError("device cuda was asked for, but PyTorch sees no CUDA GPU", hint="set device to auto or cpu, or install a CUDA build of PyTorch")
    device = torch.device(want)
    bf16_ok = (want == "cuda" and torch.cuda.is_bf16_supported()) or want == "cpu"
    if cfg["precision"] == "bf16":
        if not bf16_ok:
            raise TrainerError(f"bf16 is not supported on {want}", hint="set precision to auto or fp32")
        dtype = torch.bfloat16
    elif cfg["precision"] == "auto" and want == "cuda" and bf16_ok:
        dtype = torch.bfloat16
    else:
        dtype = torch.float32
    name = torch.cuda.get_device_name(device) if want == "cuda" else platform.processor() or platform.machine()
    return device, dtype, f"{want} ({name})"


def peak_memory_mb(torch, device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Model:
    """The chat format, the network, and how to run and save it, for builtin:tiny and Hugging Face models."""

    def __init__(self, cfg, torch, device, dtype, for_training):
        self.torch, self.device, self.dtype = torch, device, dtype
        name = cfg["model"]
        self.tiny = name == "builtin:tiny" or tiny.is_tiny_folder(name)
        if self.tiny:
            self.chat = tiny.TinyChat()
            torch.manual_seed(cfg["seed"])
            source = cfg.get("adapter") if cfg.get("adapter") and tiny.is_tiny_folder(cfg["adapter"]) else (name if name != "builtin:tiny" else None)
            self.net = tiny.load(torch, source) if source else tiny.build(torch)
            self.net.to(device=device, dtype=dtype)
            self.method = "full (builtin:tiny is trained from scratch)" if name == "builtin:tiny" else "full"
        else:
            from . import hf

            self.hf = hf
            self.chat, self.net = hf.load(cfg, torch, device, dtype, for_training)
            self.method = cfg["method"]

    def logits(self, batch):
        b = {k: (v.to(self.device) if hasattr(v, "to") else v) for k, v in batch.items()}
        if self.tiny:
            return self.net(b["input_ids"], b["position_ids"], b["segment_ids"])
        return self.hf.forward(self.torch, self.net, b, self.dtype)

    def trainable(self):
        return [p for p in self.net.parameters() if p.requires_grad]

    def parameter_counts(self):
        total = sum(p.numel() for p in self.net.parameters())
        return {"trainable": sum(p.numel() for p in self.trainable()), "total": total}

    def save(self, folder):
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        if self.tiny:
            tiny.save(self.net, folder)
        else:
            self.hf.save(self.net, self.chat, folder)

    def trainable_state(self):
        names = {id(p): n for n, p in self.net.named_parameters()}
        return {names[id(p)]: p.detach().cpu() for p in self.trainable()}


def token_stats(torch, logits, labels):
    """Summed loss, correct next-token predictions and the number of completion tokens."""
    labels = labels.to(logits.device)
    shift_labels = labels[:, 1:]
    keep = shift_labels != data.IGNORE
    picked = logits[:, :-1][keep].float()
    target = shift_labels[keep]
    loss_sum = torch.nn.functional.cross_entropy(picked, target, reduction="sum")
    correct = (picked.argmax(-1) == target).sum()
    return loss_sum, correct, int(keep.sum())


def per_token_losses(torch, logits, labels):
    """Loss of each position (0 where not a target), shifted so index t is the loss of token t."""
    labels = labels.to(logits.device)
    shift = labels[:, 1:]
    losses = torch.nn.functional.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]), shift.reshape(-1).clamp(min=0), reduction="none"
    ).view(shift.shape)
    losses = losses * (shift != data.IGNORE)
    return torch.cat([torch.zeros_like(losses[:, :1]), losses], dim=1).cpu()


def evaluate(torch, model, encoded, cfg):
    rows = data.pack(encoded, cfg["max_length"]) if cfg["packing"] else [[e] for e in sorted(encoded, key=lambda e: len(e.ids))]
    total, correct, count = 0.0, 0, 0
    model.net.eval()
    with torch.no_grad():
        for group in data.batches_of(rows, cfg["batch_size"]):
            batch = data.collate(group, model.chat.pad_id, torch)
            loss_sum, right, n = token_stats(torch, model.logits(batch), batch["labels"])
            total += float(loss_sum)
            correct += int(right)
            count += n
    model.net.train()
    return (total / count if count else float("nan")), (correct / count if count else float("nan"))


def score(torch, model, encoded, too_long, cfg, ifd, stage):
    """One sample_loss event per sample: mean completion-token loss, per model turn, and the IFD ratio."""
    model.net.eval()
    with torch.no_grad():
        order = sorted(encoded, key=lambda e: len(e.ids))
        for group in data.batches_of(order, cfg["batch_size"]):
            batch = data.collate([[e] for e in group], model.chat.pad_id, torch)
            losses = per_token_losses(torch, model.logits(batch), batch["labels"])
            alone = {}
            if ifd:
                for e in group:
                    parts = data.answer_only(model.chat, e.sample)
                    parts = [p for p in parts if len(p.ids) <= cfg["max_length"]]
                    if parts:
                        b = data.collate([[p] for p in parts], model.chat.pad_id, torch)
                        l_sum, _, n = token_stats(torch, model.logits(b), b["labels"])
                        alone[id(e)] = float(l_sum) / n if n else None
            for r, e in enumerate(group):
                turns, total, count = [], 0.0, 0
                for start, end, index in e.spans:
                    # The first token of a sample never is a target; spans start after the prompt.
                    seg = losses[r, max(start, 1) : end]
                    n = int((batch["labels"][r, max(start, 1) : end] != data.IGNORE).sum())
                    turns.append({"turn": index, "loss": float(seg.sum()) / n if n else None, "tokens": n})
                    total += float(seg.sum())
                    count += n
                mean = total / count if count else None
                event = {"file": e.sample.source, "line": e.sample.line, "loss": mean, "tokens": count, "turns": turns, "stage": stage}
                if ifd:
                    uncond = alone.get(id(e))
                    event["ifd"] = mean / uncond if mean is not None and uncond else None
                emit("sample_loss", **event)
        for s, n in too_long:
            emit("sample_loss", file=s.source, line=s.line, loss=None, tokens=n, turns=[], stage=stage, skipped=f"longer than max_length ({n} > {cfg['max_length']} tokens)")
    model.net.train()


def _report_skipped(too_long, inconsistent, cfg, source):
    if too_long:
        lines = sorted(s.line for s, _ in too_long)
        longest = max(n for _, n in too_long)
        shown = ", ".join(str(n) for n in lines[:20]) + (f" and {len(lines) - 20} more" if len(lines) > 20 else "")
        emit(
            "warning",
            text=f"{len(lines)} {source} sample(s) longer than max_length {cfg['max_length']} tokens (longest {longest}) are left out, not cut: line(s) {shown}",
            code="too-long", file=source, lines=lines,
        )
    if inconsistent:
        emit("warning", text=f"the chat template renders {inconsistent} {source} sample(s) inconsistently: only their last model turn is learned", code="template-inconsistent", file=source)


def _encode_split(model, samples, cfg, source):
    kept, too_long, inconsistent = data.encode_all(model.chat, samples, cfg["max_length"])
    _report_skipped(too_long, inconsistent, cfg, source)
    return kept, too_long


def run(cfg, control):
    torch = require_torch()
    device, dtype, device_name = pick_device(torch, cfg)
    torch.manual_seed(cfg["seed"])
    train_samples = data.load_samples(cfg["train_file"], "train")
    eval_samples = data.load_samples(cfg["validation_file"], "validation") if cfg["validation_file"] else []
    if not eval_samples and cfg["validation_split"] > 0 and cfg["mode"] == "train":
        train_samples, eval_samples = data.split(train_samples, cfg["validation_split"], cfg["seed"])
    if not train_samples:
        raise TrainerError("no sample with a model turn to learn from", hint="check the dataset's format and roles in the editor")
    model = Model(cfg, torch, device, dtype, for_training=cfg["mode"] == "train")
    train_enc, train_long = _encode_split(model, train_samples, cfg, "train")
    eval_enc, eval_long = _encode_split(model, eval_samples, cfg, "validation")
    common = {
        "config": cfg, "device": device_name, "model": cfg["model"], "dtype": str(dtype).replace("torch.", ""),
        "method": model.method, "parameters": model.parameter_counts(), "template": model.chat.name,
        "samples": {"train": len(train_enc), "validation": len(eval_enc), "too_long": len(train_long) + len(eval_long)},
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "pid": os.getpid(),
    }
    if cfg["mode"] == "score":
        emit("started", **common, total_steps=0)
        control.in_loop = True
        score(torch, model, train_enc, train_long, cfg, cfg["ifd"], "score")
        score(torch, model, eval_enc, eval_long, cfg, cfg["ifd"], "score")
        emit("finished", status="cancelled" if control.cancel_reason else "completed", adapter=None)
        return 0
    if not train_enc:
        raise TrainerError("every training sample is longer than max_length", hint=f"raise max_length above {cfg['max_length']}, or shorten the samples")
    return train(torch, cfg, control, model, train_enc, train_long, eval_enc, eval_long, common, device)


def _schedule(torch, optimizer, warmup, total):
    def factor(step):
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _groups(train_enc, cfg, steps_per_epoch):
    """(epoch, fraction of the epoch done, micro-batches) for each optimizer step, forever."""
    epoch = 0
    while True:
        batches = data.batches_of(data.epoch_rows(train_enc, cfg, epoch), cfg["batch_size"])
        acc = cfg["gradient_accumulation"]
        for i in range(0, len(batches), acc):
            yield epoch + min(1.0, (i // acc + 1) / steps_per_epoch), batches[i : i + acc]
        epoch += 1


def train(torch, cfg, control, model, train_enc, train_long, eval_enc, eval_long, common, device):
    out = cfg["output_dir"]
    rows_per_epoch = len(data.epoch_rows(train_enc, cfg, 0))
    steps_per_epoch = max(1, math.ceil(math.ceil(rows_per_epoch / cfg["batch_size"]) / cfg["gradient_accumulation"]))
    total = cfg["max_steps"] if cfg["max_steps"] > 0 else max(1, math.ceil(cfg["epochs"] * steps_per_epoch))
    warmup = math.ceil(cfg["warmup_ratio"] * total)
    eval_every = cfg["eval_steps"] or max(1, total // 10)
    save_every = cfg["save_steps"] or eval_every
    params = model.trainable()
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg["learning_rate"]
    )
    scheduler = _schedule(torch, optimizer, warmup, total)
    state = {"step": 0, "best_eval": None, "best_step": None, "bad_evals": 0, "last_checkpoint": None}
    if cfg["resume_from"]:
        state.update(_resume(torch, cfg["resume_from"], model, optimizer, scheduler))
    emit("started", **common, total_steps=total, steps_per_epoch=steps_per_epoch, warmup_steps=warmup, eval_steps=eval_every, resumed_from=cfg["resume_from"], start_step=state["step"])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    groups = _groups(train_enc, cfg, steps_per_epoch)
    for _ in range(state["step"]):
        next(groups)  # the data order is a function of the seed and the epoch: skip what a resumed run did
    control.in_loop = True
    started_at, status, stopped_early = time.perf_counter(), "completed", False
    model.net.train()
    while state["step"] < total:
        if control.cancel_reason:
            status = "cancelled"
            break
        epoch, group = next(groups)
        t0 = time.perf_counter()
        batches = [data.collate(g, model.chat.pad_id, torch) for g in group]
        # The loss is the mean over every completion token of the optimizer step, however the
        # micro-batches split them.
        labelled = sum(int((b["labels"][:, 1:] != data.IGNORE).sum()) for b in batches)
        loss_total, right_total, tokens = 0.0, 0, 0
        for batch in batches:
            loss_sum, right, _ = token_stats(torch, model.logits(batch), batch["labels"])
            (loss_sum / max(1, labelled)).backward()
            loss_total += float(loss_sum)
            right_total += int(right)
            tokens += batch["tokens"]
        norm = torch.nn.utils.clip_grad_norm_(params, cfg["max_grad_norm"] if cfg["max_grad_norm"] > 0 else float("inf"))
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - t0
        state["step"] += 1
        step = state["step"]
        if step % cfg["logging_steps"] == 0 or step == total:
            emit(
                "metrics", step=step, epoch=round(epoch, 4), split="train", loss=loss_total / max(1, labelled),
                accuracy=right_total / max(1, labelled), learning_rate=lr, grad_norm=float(norm),
                tokens_per_second=tokens / elapsed if elapsed > 0 else None, peak_memory_mb=peak_memory_mb(torch, device),
            )
        done = time.perf_counter() - started_at
        emit("progress", step=step, total_steps=total, epoch=round(epoch, 4), eta_seconds=done / step * (total - step) if step else None)
        if eval_enc and (step % eval_every == 0 or step == total):
            loss, acc = evaluate(torch, model, eval_enc, cfg)
            emit("metrics", step=step, epoch=round(epoch, 4), split="eval", loss=loss, accuracy=acc)
            if state["best_eval"] is None or loss < state["best_eval"]:
                state.update(best_eval=loss, best_step=step, bad_evals=0)
                model.save(os.path.join(out, "adapter", "best"))
            else:
                state["bad_evals"] += 1
                if cfg["early_stopping_patience"] and state["bad_evals"] >= cfg["early_stopping_patience"]:
                    emit(
                        "warning", code="early-stop",
                        text=f"validation loss has not improved for {state['bad_evals']} evaluations: stopping early; the best adapter is from step {state['best_step']} (eval loss {state['best_eval']:.4f})",
                    )
                    stopped_early = True
        if step % save_every == 0 and step < total and not stopped_early:
            _checkpoint(torch, cfg, model, optimizer, scheduler, state)
        if stopped_early:
            break
    if status == "cancelled" or stopped_early or state["step"] >= total:
        _checkpoint(torch, cfg, model, optimizer, scheduler, state)
    last = os.path.join(out, "adapter", "last")
    model.save(last)
    if cfg["score_after"] and status == "completed":
        score(torch, model, train_enc, train_long, cfg, False, "after_training")
        score(torch, model, eval_enc, eval_long, cfg, False, "after_training")
    best = os.path.join(out, "adapter", "best") if state["best_step"] is not None else None
    emit(
        "finished", status=status, adapter=best or last, last_adapter=last, best_adapter=best, best_step=state["best_step"],
        best_eval_loss=state["best_eval"], steps=state["step"], stopped_early=stopped_early,
        checkpoint=state["last_checkpoint"], reason=control.cancel_reason,
    )
    return 0


def _checkpoint(torch, cfg, model, optimizer, scheduler, state):
    folder = os.path.join(cfg["output_dir"], "checkpoints", f"step-{state['step']:06d}")
    os.makedirs(folder, exist_ok=True)
    saved = {k: v for k, v in state.items() if k != "last_checkpoint"}
    torch.save(
        {"weights": model.trainable_state(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "state": saved, "rng": torch.get_rng_state()},
        os.path.join(folder, "state.pt.tmp"),
    )
    os.replace(os.path.join(folder, "state.pt.tmp"), os.path.join(folder, "state.pt"))
    state["last_checkpoint"] = folder
    emit("checkpoint", path=folder, step=state["step"])
    kept = sorted(glob.glob(os.path.join(cfg["output_dir"], "checkpoints", "step-*")))
    for old in kept[: max(0, len(kept) - cfg["save_total_limit"])] if cfg["save_total_limit"] else []:
        shutil.rmtree(old, ignore_errors=True)


def _resume(torch, path, model, optimizer, scheduler):
    file = path if path.endswith(".pt") else os.path.join(path, "state.pt")
    if not os.path.isfile(file):
        candidates = sorted(glob.glob(os.path.join(path, "checkpoints", "step-*", "state.pt")))
        if not candidates:
            raise TrainerError(f"no checkpoint to resume from in {path}", hint="give a run folder or one of its checkpoints/step-N folders")
        file = candidates[-1]
    saved = torch.load(file, map_location="cpu")
    missing = set(saved["weights"]) - {n for n, _ in model.net.named_parameters()}
    if missing:
        raise TrainerError(f"the checkpoint {file} is for another model (unknown weights such as {sorted(missing)[0]})")
    model.net.load_state_dict(saved["weights"], strict=False)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["rng"])
    log(f"resumed from {file} at step {saved['state']['step']}")
    return dict(saved["state"], last_checkpoint=os.path.dirname(file))
