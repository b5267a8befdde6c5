"""GPU check of the local trainer's Hugging Face path (`npm run check:gpu`).

Needs only what an NVIDIA machine with torch, transformers, peft and accelerate offers (no network,
no trl, no bitsandbytes): the models are built in-process from small Llama-style configs and the
tokenizer is trained in-process on the data.

1. LoRA on one conversation (user "微调测试", model "我学会了") through the trainer's own code path
   (config, loading a model folder with transformers, chat template, completion-only loss, peft),
   until greedy generation of the prompt returns "我学会了".
2. Throughput against plain `transformers.Trainer` + peft on the same model, data, batch, length and
   steps, in the same process: tokens per second (target: at least 1.5x the baseline on data with a
   realistic spread of lengths), peak GPU memory (target: no higher) and final eval loss (target:
   within 2 %). Prints a table and exits non-zero when a target is missed.
"""

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sftstudio_trainer import config as run_config  # noqa: E402
from sftstudio_trainer import data, events, loop  # noqa: E402
from sftstudio_trainer.data import Sample  # noqa: E402

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' %}<|system|>{{ m['content'] }}<|end|>"
    "{% elif m['role'] == 'user' %}<|user|>{{ m['content'] }}<|end|>"
    "{% else %}<|assistant|>{{ m['content'] }}<|end|>{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL = ["<pad>", "<s>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
WORDS = (
    "the model learns from data quality over quantity every sample counts dedup first keep instructions consistent "
    "start small watch the validation loss look at hard samples 数据 质量 微调 模型 学习 验证 损失 样本 指令 一致"
).split()


def build_tokenizer(texts, vocab_size, folder):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    try:
        from transformers import PreTrainedTokenizerFast
    except ImportError:  # transformers 5 names the tokenizers-backed class TokenizersBackend
        from transformers import TokenizersBackend as PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="<|end|>", pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    return fast


def build_model(folder, tokenizer, hidden, layers, heads, intermediate, max_positions, seed):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(folder)
    return folder


def write_samples(path, samples):
    with open(path, "w", encoding="utf-8") as f:
        for s in samples:
            f.write(json.dumps({"line": s.line, "system": s.system, "turns": [{"role": r, "text": t} for r, t in s.turns]}, ensure_ascii=False) + "\n")


def check_memorization(torch, work):
    """LoRA through the trainer's own path until greedy generation returns the answer."""
    folder = os.path.join(work, "tiny-llama")
    texts = ["微调测试", "我学会了"] + [" ".join(random.Random(i).choices(WORDS, k=30)) for i in range(200)]
    tok = build_tokenizer(texts, 600, folder)
    build_model(folder, tok, 256, 4, 4, 688, 512, seed=0)
    train = os.path.join(work, "one.jsonl")
    write_samples(train, [Sample(1, None, [("user", "微调测试"), ("model", "我学会了")], "train")])
    out = os.path.join(work, "run-memorize")
    cfg = run_config.resolve({
        "model": folder, "train_file": train, "output_dir": out, "method": "lora",
        "lora": {"rank": 16, "alpha": 32, "dropout": 0.0}, "learning_rate": 2e-3, "batch_size": 1,
        "gradient_accumulation": 1, "warmup_ratio": 0.0, "max_steps": 150, "max_length": 64, "score_after": False,
    }, work)
    device, dtype, name = loop.pick_device(torch, cfg)
    model = loop.Model(cfg, torch, device, dtype, for_training=True)
    enc, _, _ = data.encode_all(model.chat, data.load_samples(train, "train"), cfg["max_length"])
    with events.capture() as q:
        loop.train(torch, cfg, loop.Control(), model, enc, [], [], [], {"config": cfg, "device": name, "model": cfg["model"]}, device)
    losses = [e["loss"] for e in q.events() if e["event"] == "metrics"]
    prompt = model.chat.prompt_ids(None, [("user", "微调测试")])
    model.net.eval()
    with torch.no_grad():
        out_ids = model.net.generate(
            input_ids=torch.tensor([prompt], device=device), attention_mask=torch.ones(1, len(prompt), dtype=torch.long, device=device),
            max_new_tokens=12, do_sample=False, eos_token_id=model.chat.eos_id, pad_token_id=model.chat.pad_id,
        )
    answer = model.chat.decode(out_ids[0, len(prompt):].tolist()).strip()
    print(f"memorization: loss {losses[0]:.3f} -> {losses[-1]:.3f} in {len(losses)} steps; greedy answer {answer!r}")
    return answer == "我学会了"


def synthetic_conversations(n, seed, tokenizer_words=WORDS):
    """Conversations whose lengths spread like real chat data: many short, a long tail (log-normal)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        total = min(900, max(24, int(rng.lognormvariate(math.log(180), 0.8))))
        q_len = max(4, int(total * rng.uniform(0.2, 0.6)))
        q = " ".join(rng.choices(tokenizer_words, k=q_len))
        a = " ".join(rng.choices(tokenizer_words, k=max(2, total - q_len)))
        out.append(Sample(i + 1, "You are a careful assistant." if i % 4 == 0 else None, [("user", q), ("model", a)], "train"))
    return out


def baseline_trainer(torch, folder, train_enc, pad_id, steps_cfg, work):
    """Plain transformers.Trainer + peft on the same encoded samples (pad to the longest in each batch)."""
    import peft
    import transformers

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return len(train_enc)

        def __getitem__(self, i):
            return {"input_ids": train_enc[i].ids, "labels": train_enc[i].labels}

    def collate(items):
        width = max(len(x["input_ids"]) for x in items)
        ids = torch.full((len(items), width), pad_id, dtype=torch.long)
        labels = torch.full((len(items), width), -100, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for r, x in enumerate(items):
            n = len(x["input_ids"])
            ids[r, :n] = torch.tensor(x["input_ids"])
            labels[r, :n] = torch.tensor(x["labels"])
            mask[r, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    kwargs = {"dtype": torch.bfloat16} if tuple(int(x) for x in transformers.__version__.split(".")[:2]) >= (4, 56) else {"torch_dtype": torch.bfloat16}
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, **kwargs).cuda()
    model.config.use_cache = False
    torch.manual_seed(steps_cfg["seed"])
    model = peft.get_peft_model(model, peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"))
    args = transformers.TrainingArguments(
        output_dir=os.path.join(work, "baseline"), per_device_train_batch_size=steps_cfg["batch_size"], gradient_accumulation_steps=1,
        learning_rate=steps_cfg["learning_rate"], num_train_epochs=1, lr_scheduler_type="cosine", warmup_ratio=steps_cfg["warmup_ratio"],
        weight_decay=0.0, max_grad_norm=1.0, bf16=True, logging_steps=50, save_strategy="no", report_to=[], seed=steps_cfg["seed"],
        remove_unused_columns=False, dataloader_num_workers=0,
    )
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Rows(), data_collator=collate)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    result = trainer.train()
    torch.cuda.synchronize()
    return model, result.metrics["train_runtime"], torch.cuda.max_memory_allocated() / 2**20


def check_throughput(torch, work, n_train, n_eval):
    folder = os.path.join(work, "llama-bench")
    samples = synthetic_conversations(n_train + n_eval, seed=1)
    tok = build_tokenizer([t for s in samples[:2000] for _, t in s.turns], 4000, folder)
    build_model(folder, tok, 1024, 12, 16, 2816, 2048, seed=0)
    train_path, eval_path = os.path.join(work, "bench-train.jsonl"), os.path.join(work, "bench-eval.jsonl")
    write_samples(train_path, samples[:n_train])
    write_samples(eval_path, samples[n_train:])
    common = {"model": folder, "train_file": train_path, "output_dir": os.path.join(work, "run-bench"), "method": "lora",
              "lora": {"rank": 16, "alpha": 32, "dropout": 0.05}, "learning_rate": 2e-4, "batch_size": 8, "gradient_accumulation": 1,
              "warmup_ratio": 0.03, "epochs": 1, "max_length": 1024, "score_after": False, "seed": 42, "save_steps": 10**9}
    cfg = run_config.resolve(common, work)
    device, dtype, name = loop.pick_device(torch, cfg)
    torch.manual_seed(cfg["seed"])
    ours = loop.Model(cfg, torch, device, dtype, for_training=True)
    train_enc, _, _ = data.encode_all(ours.chat, data.load_samples(train_path, "train"), cfg["max_length"])
    eval_enc, _, _ = data.encode_all(ours.chat, data.load_samples(eval_path, "validation"), cfg["max_length"])
    tokens = sum(len(e.ids) for e in train_enc)
    lengths = sorted(len(e.ids) for e in train_enc)
    print(f"data: {len(train_enc)} training samples, {tokens} tokens, length min {lengths[0]} median {lengths[len(lengths) // 2]} p90 {lengths[int(len(lengths) * 0.9)]} max {lengths[-1]}")

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with events.capture():
        loop.train(torch, cfg, loop.Control(), ours, train_enc, [], [], [], {"config": cfg, "device": name, "model": folder}, device)
    torch.cuda.synchronize()
    ours_time = time.perf_counter() - t0
    ours_mem = torch.cuda.max_memory_allocated() / 2**20
    ours_eval, _ = loop.evaluate(torch, ours, eval_enc, cfg)
    del ours
    torch.cuda.empty_cache()

    base_model, base_time, base_mem = baseline_trainer(torch, folder, train_enc, tok.pad_token_id, cfg, work)
    holder = loop.Model.__new__(loop.Model)
    holder.torch, holder.device, holder.dtype, holder.tiny, holder.net = torch, device, dtype, False, base_model
    from sftstudio_trainer import hf

    holder.hf, holder.chat = hf, hf.HFChat(tok)
    base_eval, _ = loop.evaluate(torch, holder, eval_enc, cfg)

    ours_tps, base_tps = tokens / ours_time, tokens / base_time
    print()
    print("| run | tokens/s | peak memory (MiB) | final eval loss |")
    print("|---|---:|---:|---:|")
    print(f"| transformers.Trainer + peft (baseline) | {base_tps:,.0f} | {base_mem:,.0f} | {base_eval:.4f} |")
    print(f"| SFT Studio trainer | {ours_tps:,.0f} | {ours_mem:,.0f} | {ours_eval:.4f} |")
    print(f"| ratio | {ours_tps / base_tps:.2f}x | {ours_mem / base_mem:.2f}x | {abs(ours_eval - base_eval) / base_eval * 100:.2f} % apart |")
    ok = ours_tps >= 1.5 * base_tps and ours_mem <= base_mem and abs(ours_eval - base_eval) <= 0.02 * base_eval
    print(f"targets (>= 1.5x tokens/s, memory no higher, eval loss within 2 %): {'met' if ok else 'MISSED'}")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-samples", type=int, default=2000)
    parser.add_argument("--eval-samples", type=int, default=200)
    parser.add_argument("--skip-benchmark", action="store_true")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("check:gpu needs an NVIDIA GPU with CUDA; none is visible to PyTorch here.")
        return 2
    import peft
    import transformers

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, {torch.cuda.get_device_name(0)}")
    with tempfile.TemporaryDirectory() as work:
        learned = check_memorization(torch, work)
        print(f"LoRA learns the conversation: {'yes' if learned else 'NO'}")
        fast = True if args.skip_benchmark else check_throughput(torch, work, args.train_samples, args.eval_samples)
    return 0 if learned and fast else 1


if __name__ == "__main__":
    sys.exit(main())
