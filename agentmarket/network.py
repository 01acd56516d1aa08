"""The developers' social network, stored as compact CSR arrays.

A million developers with ten peers each is ten million links: kept as a SciPy CSR matrix
(``indptr``, ``indices``), built with array operations in seconds, and read each month with
one sparse matrix-vector product instead of a walk over nodes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

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
            self.adjacency = small_world(n, mean_degree, rewire_prob, rng)
            self.degree = np.diff(self.adjacency.indptr)
        self._inv_degree = np.divide(1.0, self.degree, out=np.zeros(n), where=self.degree > 0)

    def peer_share(self, adopted: np.ndarray) -> np.ndarray:
        """Share of each developer's peers who have adopted (``adopted`` is 0/1 per developer)."""
        if self.adjacency is None:
            total = adopted.sum(dtype=np.float64)
            return (total - adopted) * self._inv_degree
        return (self.adjacency @ adopted.astype(np.float32)) * self._inv_degree

    def neighbours(self, i: int) -> np.ndarray:
        """Indices of developer ``i``'s peers."""
        if self.adjacency is None:
            return np.delete(np.arange(self.n), i)
        return self.adjacency.indices[self.adjacency.indptr[i] : self.adjacency.indptr[i + 1]]

    @property
    def edge_count(self) -> int:
        if self.adjacency is None:
            return self.n * (self.n - 1) // 2
        return int(self.adjacency.nnz // 2)


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
