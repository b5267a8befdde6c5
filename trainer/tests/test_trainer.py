"""Unit tests of the local trainer. Run: /usr/bin/python3 -m unittest discover -s trainer/tests -t trainer"""

import json
import os
import tempfile
import unittest

import torch

from sftstudio_trainer import config, data, events, loop, tiny
from sftstudio_trainer.data import IGNORE, Sample
from sftstudio_trainer.events import TrainerError


def b(text):
    return list(text.encode("utf-8"))


class MaskingTest(unittest.TestCase):
    def test_only_model_tokens_are_targets_token_by_token(self):
        s = Sample(7, "Be brief.", [("user", "Hi"), ("model", "Hello!"), ("user", "微调测试"), ("model", "我学会了")], "train")
        enc, consistent = data.encode(tiny.TinyChat(), s)
        self.assertTrue(consistent)
        T = tiny
        expected_ids = (
            [T.BOS, T.SYSTEM, *b("Be brief."), T.EOT, T.USER, *b("Hi"), T.EOT, T.MODEL, *b("Hello!"), T.EOT]
            + [T.USER, *b("微调测试"), T.EOT, T.MODEL, *b("我学会了"), T.EOT]
        )
        self.assertEqual(enc.ids, expected_ids)
        prompt1 = 1 + 1 + len(b("Be brief.")) + 1 + 1 + 2 + 1 + 1  # through the first <model>
        answer1 = b("Hello!") + [T.EOT]
        prompt2 = 1 + len(b("微调测试")) + 1 + 1
        answer2 = b("我学会了") + [T.EOT]
        expected_labels = [IGNORE] * prompt1 + answer1 + [IGNORE] * prompt2 + answer2
        self.assertEqual(enc.labels, expected_labels)
        self.assertEqual([(start, end, turn) for start, end, turn in enc.spans], [(prompt1, prompt1 + len(answer1), 1), (prompt1 + len(answer1) + prompt2, len(expected_ids), 3)])

    def test_a_template_that_rewrites_earlier_turns_trains_only_the_last_model_turn(self):
        class DropsEarlierAnswers(tiny.TinyChat):
            """Like templates that strip the reasoning of model turns before the last user turn (Qwen3's does)."""

            def render(self, system, turns, add_generation_prompt):
                last_user = max((i for i, (r, _) in enumerate(turns) if r == "user"), default=-1)
                shown = [(r, t[:1] if r == "model" and i < last_user else t) for i, (r, t) in enumerate(turns)]
                return super().render(system, shown, add_generation_prompt)

        s = Sample(1, None, [("user", "a"), ("model", "first"), ("user", "b"), ("model", "second")], "train")
        enc, consistent = data.encode(DropsEarlierAnswers(), s)
        self.assertFalse(consistent)
        targets = [t for t in enc.labels if t != IGNORE]
        self.assertEqual(targets, b("second") + [tiny.EOT])

    def test_collate_restarts_positions_and_never_targets_a_samples_first_token(self):
        chat = tiny.TinyChat()
        a, _ = data.encode(chat, Sample(1, None, [("user", "x"), ("model", "y")], "train"))
        c, _ = data.encode(chat, Sample(2, None, [("user", "xx"), ("model", "yy")], "train"))
        batch = data.collate([[a, c]], chat.pad_id, torch)
        n = len(a.ids)
        self.assertEqual(batch["position_ids"][0, :n].tolist(), list(range(n)))
        self.assertEqual(batch["position_ids"][0, n:].tolist(), list(range(len(c.ids))))
        self.assertEqual(batch["segment_ids"][0].tolist(), [1] * n + [2] * len(c.ids))
        self.assertEqual(int(batch["labels"][0, n]), IGNORE)  # never predict sample 2's first token from sample 1
        self.assertTrue(batch["packed"])


class PackingTest(unittest.TestCase):
    def test_a_packed_sample_sees_nothing_of_its_neighbours(self):
        torch.manual_seed(0)
        model = tiny.build(torch, {"d_model": 32, "n_layer": 2, "n_head": 4, "d_ff": 64})
        model.eval()
        chat = tiny.TinyChat()
        a, _ = data.encode(chat, Sample(1, None, [("user", "what is two plus two"), ("model", "four")], "train"))
        other, _ = data.encode(chat, Sample(2, "sys", [("user", "something else entirely"), ("model", "noise")], "train"))
        alone = data.collate([[a]], chat.pad_id, torch)
        packed = data.collate([[other, a]], chat.pad_id, torch)
        with torch.no_grad():
            la = model(alone["input_ids"], alone["position_ids"], alone["segment_ids"])[0]
            lp = model(packed["input_ids"], packed["position_ids"], packed["segment_ids"])[0, len(other.ids) :]
        self.assertTrue(torch.allclose(la, lp, atol=1e-5), float((la - lp).abs().max()))

    def test_first_fit_decreasing_never_splits_or_overfills(self):
        chat = tiny.TinyChat()
        encs = [data.encode(chat, Sample(i, None, [("user", "u" * (i * 7 % 40)), ("model", "m" * (i % 9 + 1))], "train"))[0] for i in range(1, 30)]
        rows = data.pack(encs, 64)
        self.assertEqual(sorted(e.sample.line for row in rows for e in row), list(range(1, 30)))
        for row in rows:
            self.assertLessEqual(sum(len(e.ids) for e in row), 64)


class DataTest(unittest.TestCase):
    def test_samples_over_max_length_are_set_aside_by_line_not_cut(self):
        chat = tiny.TinyChat()
        short = Sample(3, None, [("user", "hi"), ("model", "ok")], "train")
        long = Sample(9, None, [("user", "x" * 100), ("model", "y")], "train")
        kept, too_long, _ = data.encode_all(chat, [short, long], 50)
        self.assertEqual([e.sample.line for e in kept], [3])
        self.assertEqual([(s.line, n) for s, n in too_long], [(9, 106)])

    def test_split_is_seeded_and_keeps_both_sides(self):
        samples = [Sample(i, None, [("user", "u"), ("model", "m")], "train") for i in range(1, 21)]
        t1, e1 = data.split(samples, 0.1, 5)
        t2, e2 = data.split(samples, 0.1, 5)
        self.assertEqual([s.line for s in e1], [s.line for s in e2])
        self.assertEqual(len(e1), 2)
        self.assertEqual(len(t1) + len(e1), 20)

    def test_config_errors_name_the_setting(self):
        with self.assertRaises(TrainerError) as ctx:
            config.resolve({"train_file": "t.jsonl", "batch_size": 0})
        self.assertIn("batch_size", ctx.exception.message)
        with self.assertRaises(TrainerError) as ctx:
            config.resolve({"train_file": "t.jsonl", "method": "qlora4"})
        self.assertIn("method must be one of", ctx.exception.message)


def write_samples(folder, n, name="train.jsonl"):
    path = os.path.join(folder, name)
    pairs = [("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Cuba", "Havana")]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            c, cap = pairs[i % len(pairs)]
            f.write(json.dumps({"line": i + 1, "system": None, "turns": [{"role": "user", "text": f"Capital of {c}?"}, {"role": "model", "text": f"{cap}."}]}) + "\n")
    return path


class LoopTest(unittest.TestCase):
    def run_cfg(self, **given):
        cfg = config.resolve(given, self.dir)
        with events.capture() as cap:
            code = loop.run(cfg, loop.Control())
        self.assertEqual(code, 0)
        return cap.events()

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        write_samples(self.dir, 24)

    def tearDown(self):
        self.tmp.cleanup()

    def test_resume_continues_from_the_last_checkpoint(self):
        base = {"train_file": "train.jsonl", "method": "full", "batch_size": 4, "gradient_accumulation": 1, "learning_rate": 1e-3, "max_length": 128, "save_steps": 2, "score_after": False}
        first = self.run_cfg(**base, max_steps=4)
        self.assertEqual(first[-1]["steps"], 4)
        self.assertTrue(any(e["event"] == "checkpoint" and e["step"] == 4 for e in first))
        second = self.run_cfg(**base, max_steps=6, resume_from=self.dir)
        started = next(e for e in second if e["event"] == "started")
        self.assertEqual(started["start_step"], 4)
        self.assertEqual([e["step"] for e in second if e["event"] == "progress"], [5, 6])
        self.assertEqual(second[-1]["status"], "completed")

    def test_score_mode_gives_each_sample_its_loss_and_ifd(self):
        evs = self.run_cfg(train_file="train.jsonl", mode="score", ifd=True, max_length=128)
        losses = [e for e in evs if e["event"] == "sample_loss"]
        self.assertEqual(sorted(e["line"] for e in losses), list(range(1, 25)))
        for e in losses:
            self.assertGreater(e["loss"], 0)
            self.assertGreater(e["ifd"], 0)
            self.assertEqual(len(e["turns"]), 1)
            self.assertAlmostEqual(e["turns"][0]["loss"], e["loss"], places=5)

    def test_early_stopping_keeps_the_best_adapter(self):
        write_samples(self.dir, 4, "validation.jsonl")
        evs = self.run_cfg(
            train_file="train.jsonl", validation_file="validation.jsonl", method="full", batch_size=4, gradient_accumulation=1,
            learning_rate=0.5, max_grad_norm=0, max_length=128, max_steps=40, eval_steps=1, early_stopping_patience=2, score_after=False,
        )
        finished = evs[-1]
        evals = [e["loss"] for e in evs if e["event"] == "metrics" and e["split"] == "eval"]
        self.assertTrue(finished["stopped_early"], evals)
        self.assertEqual(finished["best_eval_loss"], min(evals))
        self.assertTrue(tiny.is_tiny_folder(finished["best_adapter"]))


if __name__ == "__main__":
    unittest.main()
