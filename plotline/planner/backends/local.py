"""`local` backend: transformers `generate` in-process, batched over prompts × plans with left padding."""

from __future__ import annotations

import torch

from plotline.planner.backends.base import BackendContext, PlanRequest, SampledPlan, register_backend
from plotline.planner.masks import ThinkTokens, truncate_at_eos
from plotline.progress import Progress, no_progress


def _eos_ids(model, tokenizer) -> list[int]:
    gen = getattr(model, "generation_config", None)
    ids = getattr(gen, "eos_token_id", None) if gen is not None else None
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(int(tokenizer.eos_token_id))
    return ids


class LocalSampler:
    """Samples with the in-process planner; sequences are generated `batch_size` at a time."""

    name = "local"

    def __init__(self, context: BackendContext, batch_size: int | None = None):
        if context.planner is None:
            raise ValueError("the local planner backend needs a loaded planner (BackendContext.planner)")
        self.planner = context.planner
        self.tokenizer = context.tokenizer
        self.config = context.config
        self.batch_size = batch_size or context.config.batch_size
        self.adapter_version = context.adapter_version
        self.eos_ids = _eos_ids(self.planner.model, self.tokenizer)
        self.think = ThinkTokens.from_tokenizer(self.tokenizer, extra_eos=self.eos_ids)

    @torch.no_grad()
    def _generate(self, batch: list[PlanRequest]) -> list[SampledPlan]:
        model, tok = self.planner.model, self.tokenizer
        pad = tok.pad_token_id
        P = max(len(r.prompt_ids) for r in batch)
        ids = torch.tensor([[pad] * (P - len(r.prompt_ids)) + list(r.prompt_ids) for r in batch])
        attn = torch.tensor([[0] * (P - len(r.prompt_ids)) + [1] * len(r.prompt_ids) for r in batch])
        device = self.planner.device
        torch.manual_seed(batch[0].seed)
        if device.startswith("cuda"):
            torch.cuda.manual_seed_all(batch[0].seed)
        was_training = model.training
        model.eval()
        try:
            out = model.generate(
                input_ids=ids.to(device),
                attention_mask=attn.to(device),
                do_sample=True,
                temperature=self.config.temperature,
                top_p=self.config.top_p,
                top_k=0,
                max_new_tokens=self.config.max_new_tokens,
                pad_token_id=pad,
                eos_token_id=self.eos_ids,
            )
        finally:
            model.train(was_training)
        results = []
        for r, row in zip(batch, out[:, P:].cpu().tolist()):
            comp = truncate_at_eos(row, self.think.eos_ids)
            ended = bool(comp) and comp[-1] in self.think.eos_ids
            text_ids = comp[:-1] if ended else comp
            results.append(
                SampledPlan(
                    request=r,
                    raw_text=tok.decode(text_ids, skip_special_tokens=True),
                    completion_ids=comp,
                    finish_reason="stop" if ended else "length",
                    adapter_version=self.adapter_version,
                )
            )
        return results

    def sample(self, requests: list[PlanRequest], progress: Progress = no_progress) -> list[SampledPlan]:
        """Generate one completion per request, `batch_size` sequences per `generate` call (seeded per batch),
        reporting the plans done after each call."""
        out: list[SampledPlan] = []
        progress(0, len(requests))
        for i in range(0, len(requests), self.batch_size):
            out.extend(self._generate(requests[i : i + self.batch_size]))
            progress(len(out), len(requests))
        return out


@register_backend("local")
def make_local(context: BackendContext) -> LocalSampler:
    """Factory of the `local` backend."""
    return LocalSampler(context)
