"""builtin:tiny: a small byte-level transformer in plain torch, trained from scratch.

It checks the whole path (data, masking, packing, events, checkpoints, run records) on a CPU in
about a minute, with no download. Its chat format is its own:

    <bos> [<system> system-bytes <eot>] (<user> bytes <eot> | <tool> bytes <eot> | <model> bytes <eot>)*

and the model learns the bytes of each model turn and the <eot> that ends it.
"""

import json
import math
import os

PAD, BOS, SYSTEM, USER, MODEL, EOT, TOOL = 256, 257, 258, 259, 260, 261, 262
VOCAB = 263
ROLE_TOKEN = {"user": USER, "model": MODEL, "tool": TOOL}

DEFAULT_SHAPE = {"d_model": 128, "n_layer": 2, "n_head": 4, "d_ff": 384, "max_positions": 4096}


class TinyChat:
    """Renders conversations to byte-level token ids."""

    pad_id = PAD
    eos_id = EOT
    name = "builtin:tiny byte-level template"

    def render(self, system, turns, add_generation_prompt):
        ids = [BOS]
        if system is not None:
            ids += [SYSTEM, *system.encode("utf-8"), EOT]
        for role, text in turns:
            ids += [ROLE_TOKEN[role], *text.encode("utf-8"), EOT]
        if add_generation_prompt:
            ids.append(MODEL)
        return ids

    def answer_only(self, text):
        """The answer with no instruction: ids, and where the answer's tokens start."""
        return [BOS, MODEL, *text.encode("utf-8"), EOT], 2

    def prompt_ids(self, system, turns):
        return self.render(system, turns, True)

    def decode(self, ids):
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")


def build(torch, shape=None):
    nn = torch.nn
    F = torch.nn.functional
    cfg = dict(DEFAULT_SHAPE, **(shape or {}))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            d, h = cfg["d_model"], cfg["n_head"]
            self.h = h
            self.ln1 = nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.ln2 = nn.LayerNorm(d)
            self.up = nn.Linear(d, cfg["d_ff"])
            self.down = nn.Linear(cfg["d_ff"], d)

        def forward(self, x, bias):
            b, t, d = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
            q, k, v = (z.view(b, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
            att = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.h) + bias
            y = F.softmax(att, dim=-1) @ v
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
            return x + self.down(F.gelu(self.up(self.ln2(x))))

    class TinyLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.shape = cfg
            self.tok = nn.Embedding(VOCAB, cfg["d_model"])
            self.pos = nn.Embedding(cfg["max_positions"], cfg["d_model"])
            self.blocks = nn.ModuleList(Block() for _ in range(cfg["n_layer"]))
            self.ln = nn.LayerNorm(cfg["d_model"])
            self.head = nn.Linear(cfg["d_model"], VOCAB, bias=False)
            self.head.weight = self.tok.weight
            self.apply(self._init)

        @staticmethod
        def _init(m):
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

        def forward(self, input_ids, position_ids, segment_ids):
            t = input_ids.shape[1]
            if int(position_ids.max()) >= cfg["max_positions"]:
                raise ValueError(f"builtin:tiny handles at most {cfg['max_positions']} tokens per sample")
            x = self.tok(input_ids) + self.pos(position_ids)
            causal = torch.ones(t, t, dtype=torch.bool, device=input_ids.device).tril()
            same = segment_ids.unsqueeze(2) == segment_ids.unsqueeze(1)
            allowed = causal.unsqueeze(0) & same  # padding (segment 0) only sees padding
            bias = torch.zeros(allowed.shape, dtype=x.dtype, device=x.device).masked_fill(~allowed, torch.finfo(x.dtype).min).unsqueeze(1)
            for block in self.blocks:
                x = block(x, bias)
            return self.head(self.ln(x))

    return TinyLM()


def save(model, folder):
    import torch

    os.makedirs(folder, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(folder, "model.pt"))
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"model_type": "sftstudio-tiny", "vocab": VOCAB, **model.shape}, f, indent=2)


def load(torch, folder):
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        shape = {k: v for k, v in json.load(f).items() if k in DEFAULT_SHAPE}
    model = build(torch, shape)
    model.load_state_dict(torch.load(os.path.join(folder, "model.pt"), map_location="cpu"))
    return model


def is_tiny_folder(path):
    try:
        with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
            return json.load(f).get("model_type") == "sftstudio-tiny"
    except (OSError, ValueError):
        return False
