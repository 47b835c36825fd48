"""Identity-balanced sampling: batches of P identities with K tracklets each, shardable across DDP ranks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

EPOCH_SIZES = ("tracklets", "identities")


class PKSampler(Sampler[int]):
    """Yield dataset indices in batches of ``p`` distinct identities x ``k`` tracklets each.

    Use it with ``DataLoader(dataset, batch_size=sampler.batch_size, sampler=sampler)``. Within a batch
    the ``k`` indices of an identity are contiguous.

    An epoch: each identity's tracklets are shuffled and cut into ``max(1, n_i // k)`` groups of ``k``
    (leftover tracklets sit the epoch out; an identity with fewer than ``k`` tracklets forms one group of
    all of them, filled up to ``k`` by drawing among them with replacement). Each batch takes one group
    from ``p`` identities chosen at random among those with groups left. The number of batches is the
    most that distinct-identity batches allow, ``max b`` with ``sum_i min(g_i, b) >= p * b``: it is the
    same every epoch, which keeps ``len()`` exact, and the random choice is only constrained as far as
    needed to reach it.

    ``epoch_size="identities"`` makes an epoch one group of ``k`` per identity instead (``k`` tracklets drawn at
    random, with replacement when it has fewer): ``floor(ids / p)`` batches, the epoch of the video re-ID code the
    STA and AITL papers build on (deep-person-reid's RandomIdentitySampler: about 39 batches of 16 x 4 on MARS
    against about 121 for a pass over its tracklets).

    The order is a pure function of ``(seed, epoch)``; call ``set_epoch`` before each epoch. Nothing
    else is stateful, so no ``state_dict`` is needed: resuming at an epoch reproduces it.

    DDP: every rank must use the same ``seed``. Batch ``i`` of the epoch goes to rank
    ``i % world_size``. With ``drop_last_incomplete`` the trailing batches that do not fill a round of
    ``world_size`` are dropped, so shares are disjoint and equal in length; otherwise that round is
    completed with batches from the start of the epoch (repeated on some ranks).
    """

    def __init__(
        self,
        labels: Sequence[int],
        p: int,
        k: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last_incomplete: bool = True,
        epoch_size: str = "tracklets",
    ) -> None:
        if epoch_size not in EPOCH_SIZES:
            raise ValueError(f"epoch_size must be one of {EPOCH_SIZES}, got {epoch_size!r}")
        if p < 1 or k < 1:
            raise ValueError(f"p and k must be >= 1, got p={p}, k={k}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        labels = np.asarray(labels)
        ids, inverse = np.unique(labels, return_inverse=True)
        if len(ids) < p:
            raise ValueError(f"PKSampler needs at least p={p} identities, the labels hold {len(ids)}")
        self.p, self.k = p, k
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.drop_last_incomplete = drop_last_incomplete
        self.epoch = 0
        order = np.argsort(inverse, kind="stable")
        counts = np.bincount(inverse)
        self._members = np.split(order, np.cumsum(counts)[:-1])
        self._groups_per_id = np.maximum(1, counts // k) if epoch_size == "tracklets" else np.ones_like(counts)
        self._num_batches = self._max_batches(self._groups_per_id, p)
        if drop_last_incomplete:
            self._batches_per_rank = self._num_batches // world_size
        else:
            self._batches_per_rank = -(-self._num_batches // world_size)
        if self._batches_per_rank == 0:
            raise ValueError(
                f"the labels give {self._num_batches} batches of {p}x{k}, fewer than world_size={world_size}"
            )

    @staticmethod
    def _max_batches(groups: np.ndarray, p: int) -> int:
        """Largest b with sum(min(groups, b)) >= p * b, by bisection (the condition holds on a prefix)."""
        low, high = 0, int(groups.sum()) // p
        while low < high:
            mid = (low + high + 1) // 2
            if np.minimum(groups, mid).sum() >= p * mid:
                low = mid
            else:
                high = mid - 1
        return low

    @property
    def batch_size(self) -> int:
        return self.p * self.k

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_batches(self) -> list[np.ndarray]:
        """All batches of the current epoch, in the single-process order, each ``(p * k,)`` indices."""
        rng = np.random.default_rng((self.seed, self.epoch))
        groups = []
        for members, n_groups in zip(self._members, self._groups_per_id):
            shuffled = rng.permutation(members)
            if len(shuffled) < self.k:
                shuffled = np.concatenate([shuffled, rng.choice(members, self.k - len(shuffled))])
            groups.append(shuffled[: n_groups * self.k].reshape(n_groups, self.k))

        left = self._groups_per_id.copy()
        batches = []
        for remaining in range(self._num_batches, 0, -1):
            # Keeping `remaining` batches feasible: of the ids with >= `remaining` groups left, at most
            # `slack` may sit this batch out.
            slack = int(np.minimum(left, remaining).sum()) - self.p * remaining
            saturated = np.flatnonzero(left >= remaining)
            forced = rng.choice(saturated, max(0, len(saturated) - slack), replace=False)
            others = np.setdiff1d(np.flatnonzero(left > 0), forced)
            chosen = np.concatenate([forced, rng.choice(others, self.p - len(forced), replace=False)])
            rng.shuffle(chosen)
            used = self._groups_per_id[chosen] - left[chosen]
            batches.append(np.concatenate([groups[i][u] for i, u in zip(chosen, used)]))
            left[chosen] -= 1
        return batches

    def __iter__(self) -> Iterator[int]:
        batches = self.epoch_batches()
        total = self._batches_per_rank * self.world_size
        batches = (batches * (-(-total // len(batches))))[:total]
        for batch in batches[self.rank :: self.world_size]:
            yield from batch.tolist()

    def __len__(self) -> int:
        return self._batches_per_rank * self.batch_size
