"""The developers' social network, stored as compact CSR arrays.

A million developers with ten peers each is ten million links: kept as a SciPy CSR matrix
(``indptr``, ``indices``), built with array operations in seconds. Each month's adopting
shares of peers come from counts kept between months, which only the links of developers
whose adoption changed update; all shares at once are one sparse matrix-vector product.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

from agentmarket.params import NetworkKind


class PeerNetwork:
    """Who listens to whom: the adopting share of each developer's peers, in [0, 1]."""

    def __init__(self, n: int, kind: NetworkKind, mean_degree: int, rewire_prob: float, rng: np.random.Generator):
        self.n = n
        self.kind = NetworkKind(kind)
        if self.kind is NetworkKind.COMPLETE:
            self.adjacency = None
            self.degree = np.full(n, max(n - 1, 0), dtype=np.int64)
        else:
            self.adjacency = compact_counts(small_world(n, mean_degree, rewire_prob, rng))
            self.degree = np.diff(self.adjacency.indptr)
        self._inv_degree = np.divide(1.0, self.degree, out=np.zeros(n), where=self.degree > 0)
        self._counted = np.zeros(n, dtype=np.int8)  # the adopters the counts below were taken for (0/1)
        self._adopted_peers = np.zeros(n, dtype=np.int64)  # each developer's adopting peers, for _counted

    def peer_share(self, adopted: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """Share of each developer's peers who have adopted (``adopted`` is 0/1 per developer).

        Without ``idx``, every developer's share, by one sparse mat-vec. With ``idx``, only
        those developers' shares, from counts of adopting peers kept between calls: only the
        links of developers whose adoption changed since the last call are walked (the
        network is undirected, so a developer's row lists whom its change touches). The
        counts are exact integers, so the shares are the mat-vec's to the last bit.
        """
        if self.adjacency is None:
            inv = self._inv_degree if idx is None else self._inv_degree[idx]
            total = adopted.sum(dtype=np.float64)
            return (total - (adopted if idx is None else adopted[idx])) * inv
        if idx is not None:
            a = self.adjacency
            flags = adopted.view(np.int8) if adopted.dtype == np.bool_ else adopted.astype(np.int8)
            return tracked_peer_share(
                a.indptr, a.indices, a.data, self._inv_degree, flags, self._counted, self._adopted_peers, idx
            )
        return self.adopted_peer_counts(adopted) * self._inv_degree

    def adopted_peer_counts(self, adopted: np.ndarray) -> np.ndarray:
        """Number of each developer's peers who have adopted: one CSR mat-vec in the matrix's integer type.

        Counts are exact small integers, so the integer product equals the float one.
        """
        x = adopted.view(np.int8) if adopted.dtype == np.bool_ else adopted
        return self.adjacency @ x.astype(self.adjacency.dtype, copy=False)

    def neighbours(self, i: int) -> np.ndarray:
        """Indices of developer ``i``'s peers."""
        if self.adjacency is None:
            return np.delete(np.arange(self.n), i)
        return self.adjacency.indices[self.adjacency.indptr[i] : self.adjacency.indptr[i + 1]]

    @property
    def edge_count(self) -> int:
        """Links in the developers' social network."""
        if self.adjacency is None:
            return self.n * (self.n - 1) // 2
        return int(self.adjacency.nnz // 2)


@njit(cache=True, nogil=True)
def tracked_peer_share(indptr, indices, data, inv_degree, adopted, counted, counts, idx):
    """Adopting share of the peers of developers ``idx``, bringing ``counts`` up to date with ``adopted`` first.

    ``counts`` holds each developer's adopting peers for the adopters marked in ``counted``
    (0/1). Each developer whose mark differs from ``adopted`` adds or takes its link's entry
    from each peer's count (the matrix is symmetric) and is marked anew; then the shares of
    ``idx`` are their counts times 1/degree. Positions are read as unsigned integers: numba
    then makes no check for a negative index (counted from the end), which took two thirds
    of a walk's time.
    """
    for i in range(adopted.size):
        flag = adopted[i]
        if flag != counted[i]:
            step = np.int64(flag) - np.int64(counted[i])
            for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
                counts[np.uint64(indices[p])] += step * data[p]
            counted[i] = flag
    out = np.empty(idx.size)
    for k in range(idx.size):
        i = np.uint64(idx[k])
        out[k] = counts[i] * inv_degree[i]
    return out


def small_world(n: int, mean_degree: int, rewire_prob: float, rng: np.random.Generator) -> sp.csr_matrix:
    """A Watts-Strogatz-style undirected graph as a symmetric 0/1 CSR matrix.

    Each developer links to the ``mean_degree // 2`` next ones on a ring; each link's far
    end is moved to a uniformly random developer with probability ``rewire_prob``.
    Self-links and duplicates are dropped, so degrees vary a little around the mean.
    """
    half = min(max(mean_degree // 2, 1), max((n - 1) // 2, 0))
    if n < 2 or half == 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    src = np.repeat(np.arange(n, dtype=np.int64), half)
    dst = (src + np.tile(np.arange(1, half + 1, dtype=np.int64), n)) % n
    rewire = rng.random(src.size) < rewire_prob
    dst[rewire] = rng.integers(0, n, size=int(rewire.sum()))
    keep = src != dst
    src, dst = src[keep], dst[keep]
    rows = np.concatenate([src, dst])
    cols = np.concatenate([dst, src])
    mat = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=(n, n))
    mat.sum_duplicates()
    mat.data[:] = 1.0
    return mat


def compact_counts(mat: sp.csr_matrix) -> sp.csr_matrix:
    """The same 0/1 matrix with the smallest integer entries that can hold a row's peer count.

    A mat-vec then reads 1 byte per link instead of 4 (int8 up to 127 peers), which is most
    of the monthly cost of the network at a million developers.
    """
    most = int(np.diff(mat.indptr).max(initial=0))
    for dtype in (np.int8, np.int16, np.int32):
        if most <= np.iinfo(dtype).max:
            break
    out = sp.csr_matrix((mat.data.astype(dtype), mat.indices, mat.indptr), shape=mat.shape)
    out.has_sorted_indices = mat.has_sorted_indices
    return out
