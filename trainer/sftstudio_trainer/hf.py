"""Hugging Face models: transformers for the model and its chat template, peft for adapters."""

import importlib
import os
import sys

from .events import TrainerError

ROLE = {"user": "user", "model": "assistant", "tool": "tool"}


def require(module, packages):
    """Import a module, or stop with the exact command that installs it for this interpreter."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise TrainerError(
            f"the Python package {packages[0]} is not installed for {sys.executable} ({err})",
            hint=f"{sys.executable} -m pip install {' '.join(packages)}",
            kind="missing_package",
        ) from err


class HFChat:
    """Renders conversations with the tokenizer's own chat template."""

    def __init__(self, tokenizer):
        if not getattr(tokenizer, "chat_template", None):
            raise TrainerError(
                "the tokenizer has no chat template, so the conversation's turns cannot be laid out as the model expects",
                hint="use an instruction-tuned model (its tokenizer carries a chat_template), or add a chat_template to tokenizer_config.json",
            )
        self.tok = tokenizer
        self.name = "the tokenizer's chat template"
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = pad if pad is not None else 0
        self.eos_id = tokenizer.eos_token_id
        self.system_ok = self._accepts([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
        self.tool_ok = self._accepts([{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}, {"role": "tool", "content": "t"}])

    def _accepts(self, messages):
        try:
            self.tok.apply_chat_template(messages, tokenize=False)
            return True
        except Exception:  # templates raise their own exception types ("System role not supported")
            return False

    def messages(self, system, turns):
        """The system instruction goes where the template expects it: its own turn, or before the first user turn."""
        out, pending = [], None
        if system is not None:
            if self.system_ok:
                out.append({"role": "system", "content": system})
            else:
                pending = system
        for role, text in turns:
            r = ROLE[role]
            if r == "tool" and not self.tool_ok:
                r, text = "user", f"Tool result:\n{text}"
            if r == "user" and pending is not None:
                text, pending = f"{pending}\n\n{text}", None
            out.append({"role": r, "content": text})
        return out

    def render(self, system, turns, add_generation_prompt):
        msgs = self.messages(system, turns)
        try:
            text = self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt)
        except Exception as err:
            raise TrainerError(f"the chat template rejects this conversation: {err}") from err
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, system, turns):
        return self.render(system, turns, True)

    def answer_only(self, text):
        ids = list(self.tok(text, add_special_tokens=True)["input_ids"])
        start = 1 if ids and ids[0] == self.tok.bos_token_id else 0
        return ids, start

    def decode(self, ids):
        return self.tok.decode(ids, skip_special_tokens=True)


def _dtype_kwarg(transformers, dtype):
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def load(cfg, torch, device, dtype, for_training):
    """The tokenizer's chat format and the model, with an adapter when the method asks for one."""
    transformers = require("transformers", ["transformers", "accelerate"])
    name = cfg["model"]
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as err:
        raise TrainerError(
            f"cannot load the tokenizer of {name}: {err}",
            hint="give a local folder holding the model, or a Hugging Face id this machine can download (log in with `hf auth login` for gated models such as Gemma and Llama)",
        ) from err
    chat = HFChat(tokenizer)
    kwargs = _dtype_kwarg(transformers, dtype)
    method = cfg["method"]
    if method == "qlora" and for_training:
        if device.type != "cuda":
            raise TrainerError("QLoRA needs an NVIDIA GPU with CUDA (4-bit weights through bitsandbytes)", hint="choose method LoRA or full on this machine")
        require("bitsandbytes", ["bitsandbytes"])
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype
        )
        kwargs["device_map"] = {"": device.index or 0}
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as err:
        raise TrainerError(f"cannot load the model {name}: {err}", hint="check the id or folder, and that its weights are there") from err
    if "quantization_config" not in kwargs:
        model.to(device)
    model.config.use_cache = False
    if for_training and cfg["gradient_checkpointing"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if for_training and method in ("lora", "qlora"):
        peft = require("peft", ["peft"])
        if method == "qlora":
            model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg["gradient_checkpointing"])
        lora = cfg["lora"]
        model = peft.get_peft_model(
            model,
            peft.LoraConfig(
                r=int(lora["rank"]), lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                target_modules=lora["target_modules"], task_type="CAUSAL_LM",
            ),
        )
    elif cfg.get("adapter"):
        # Score with a trained adapter on top of its base model.
        peft = require("peft", ["peft"])
        model = peft.PeftModel.from_pretrained(model, cfg["adapter"])
    return chat, model


def forward(torch, model, batch, dtype):
    """Logits for a batch; packed rows get a block-diagonal causal mask, so samples never see each other."""
    input_ids = batch["input_ids"]
    seg = batch["segment_ids"]
    if batch["packed"]:
        t = seg.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=seg.device).tril()
        allowed = causal.unsqueeze(0) & (seg.unsqueeze(2) == seg.unsqueeze(1))
        mask = torch.zeros(allowed.shape, dtype=dtype, device=seg.device).masked_fill(~allowed, torch.finfo(dtype).min).unsqueeze(1)
        out = model(input_ids=input_ids, attention_mask=mask, position_ids=batch["position_ids"], use_cache=False)
    else:
        out = model(input_ids=input_ids, attention_mask=(seg > 0).long(), use_cache=False)
    return out.logits


def save(model, tokenizer_chat, folder):
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer_chat.tok.save_pretrained(folder)
