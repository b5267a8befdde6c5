"""The run config: defaults, and a check of what Python needs before it starts.

The JSON Schema in schemas/run-config.schema.json is the contract (the host validates against it
before launch); this module applies the same defaults so the trainer also runs on its own.
"""

import json
import os

from .events import TrainerError

DEFAULTS = {
    "mode": "train",  # train | score
    "model": "builtin:tiny",
    "train_file": None,  # normalized samples (JSONL: {"line", "system", "turns":[{"role","text"}]})
    "validation_file": None,
    "validation_split": 0.0,  # fraction of the training samples held out when there is no validation file
    "method": "lora",  # lora | qlora | full
    "lora": {"rank": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"},
    "epochs": 3.0,
    "max_steps": 0,  # > 0 overrides epochs
    "learning_rate": 2e-4,
    "batch_size": 4,
    "gradient_accumulation": 4,
    "warmup_ratio": 0.03,
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "seed": 42,
    "max_length": 1024,
    "packing": False,
    "gradient_checkpointing": False,
    "eval_steps": 0,  # 0: about ten evaluations over the run
    "early_stopping_patience": 0,  # evaluations without improvement before stopping; 0 never stops early
    "logging_steps": 1,
    "save_steps": 0,  # 0: at every evaluation
    "save_total_limit": 2,
    "resume_from": None,
    "output_dir": None,
    "group_by_length": True,  # without packing: batches of similar lengths, little padding
    "score_after": True,  # one sample_loss event per line after training
    "ifd": False,  # score mode: also the instruction-following difficulty ratio
    "adapter": None,  # score mode: a trained adapter (or builtin:tiny folder) to score with
    "precision": "auto",  # auto | bf16 | fp32 (bf16 where the device has it)
    "device": "auto",  # auto | cpu | cuda | mps
}

_CHOICES = {
    "mode": ("train", "score"),
    "method": ("lora", "qlora", "full"),
    "precision": ("auto", "bf16", "fp32"),
    "device": ("auto", "cpu", "cuda", "mps"),
}


def _number(cfg, key, minimum=None, maximum=None, integer=False):
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and int(value) != value):
        raise TrainerError(f"config: {key} must be {'an integer' if integer else 'a number'}, not {value!r}")
    if minimum is not None and value < minimum:
        raise TrainerError(f"config: {key} must be at least {minimum}, not {value!r}")
    if maximum is not None and value > maximum:
        raise TrainerError(f"config: {key} must be at most {maximum}, not {value!r}")
    if integer:
        cfg[key] = int(value)


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            given = json.load(f)
    except OSError as err:
        raise TrainerError(f"cannot read the run config {path}: {err.strerror}") from err
    except json.JSONDecodeError as err:
        raise TrainerError(f"the run config {path} is not valid JSON: {err}") from err
    if not isinstance(given, dict):
        raise TrainerError(f"the run config {path} must be a JSON object")
    return resolve(given, os.path.dirname(os.path.abspath(path)))


def resolve(given, base_dir="."):
    cfg = json.loads(json.dumps(DEFAULTS))
    for key, value in given.items():
        if key == "lora" and isinstance(value, dict):
            cfg["lora"].update(value)
        else:
            cfg[key] = value
    for key, choices in _CHOICES.items():
        if cfg[key] not in choices:
            raise TrainerError(f"config: {key} must be one of {', '.join(choices)}, not {cfg[key]!r}")
    if not isinstance(cfg["model"], str) or not cfg["model"]:
        raise TrainerError("config: model must name a model (builtin:tiny, a Hugging Face id or a folder)")
    if not isinstance(cfg["train_file"], str):
        raise TrainerError("config: train_file is required")
    for key in ("epochs", "learning_rate", "warmup_ratio", "weight_decay", "max_grad_norm", "validation_split"):
        _number(cfg, key, minimum=0)
    _number(cfg, "validation_split", maximum=0.9)
    _number(cfg, "warmup_ratio", maximum=1)
    for key in ("batch_size", "gradient_accumulation", "max_length"):
        _number(cfg, key, minimum=1, integer=True)
    for key in ("max_steps", "eval_steps", "early_stopping_patience", "logging_steps", "save_steps", "save_total_limit", "seed"):
        _number(cfg, key, minimum=0, integer=True)
    lora = cfg["lora"]
    for key in ("rank", "alpha"):
        if isinstance(lora.get(key), bool) or not isinstance(lora.get(key), (int, float)) or lora[key] <= 0:
            raise TrainerError(f"config: lora.{key} must be a positive number")
    if not isinstance(lora.get("dropout"), (int, float)) or not 0 <= lora["dropout"] < 1:
        raise TrainerError("config: lora.dropout must be in [0, 1)")
    tm = lora.get("target_modules")
    if not (tm == "all-linear" or (isinstance(tm, list) and tm and all(isinstance(m, str) for m in tm))):
        raise TrainerError('config: lora.target_modules must be "all-linear" or a list of module names')
    for key in ("packing", "gradient_checkpointing", "group_by_length", "score_after", "ifd"):
        if not isinstance(cfg[key], bool):
            raise TrainerError(f"config: {key} must be true or false, not {cfg[key]!r}")
    if cfg["epochs"] <= 0 and cfg["max_steps"] <= 0 and cfg["mode"] == "train":
        raise TrainerError("config: give epochs > 0 or max_steps > 0")
    for key in ("train_file", "validation_file", "resume_from", "output_dir", "adapter"):
        if isinstance(cfg[key], str) and not os.path.isabs(cfg[key]):
            cfg[key] = os.path.normpath(os.path.join(base_dir, cfg[key]))
    if cfg["output_dir"] is None:
        cfg["output_dir"] = base_dir
    return cfg
