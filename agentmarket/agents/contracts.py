"""A lab's book of capacity contracts with clouds, held as arrays.

A contract books ``acc`` accelerators with one cloud each month in ``[start, end)`` at the
price of the day it was signed (USD/acc-month, take-or-pay). The book is read several times a
month (this month's compute and bill, what is booked for a month ahead, what the contracts
bind the lab to pay); each reading is one compiled pass over the contracts in the order they
were signed, adding term by term as a Python loop over them would, so the figures are those
of the rules written plainly, to the last bit. A total over contracts is a numpy float, or the
integer 0 when no contract counts (as Python's ``sum`` of numpy floats gives it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from numba import njit

CLOUD, START, END, ACC, PRICE = range(5)
"""Rows of the book's table: the cloud's index, first month, month after the last, accelerators, price."""


@dataclass
class Contract:
    """Capacity booked with one cloud: ``acc`` accelerators each month in [start, end)."""

    cloud: int
    start: int
    end: int
    acc: float
    price_usd_per_acc_month: float


@njit(cache=True, nogil=True)
def read_month(table, size, month, by_cloud):
    """Accelerators and value (USD/month) of the contracts live in ``month``, in all and per cloud (into ``by_cloud``).

    Returns the totals and how many contracts are live; ``by_cloud`` rows are accelerators and value.
    """
    by_cloud[:] = 0.0
    acc = 0.0
    value = 0.0
    count = 0
    for k in range(size):
        if table[START, k] <= month < table[END, k]:
            a = table[ACC, k]
            v = a * table[PRICE, k]
            acc += a
            value += v
            count += 1
            i = int(table[CLOUD, k])
            by_cloud[0, i] += a
            by_cloud[1, i] += v
    return acc, value, count


@njit(cache=True, nogil=True)
def booked_in(table, size, month, cloud):
    """Accelerators under contract in ``month`` (at cloud ``cloud``, or at all when it is -1), and how many contracts count."""
    total = 0.0
    count = 0
    for k in range(size):
        if table[START, k] <= month < table[END, k] and (cloud < 0 or table[CLOUD, k] == cloud):
            total += table[ACC, k]
            count += 1
    return total, count


@njit(cache=True, nogil=True)
def bound_to_pay(table, size, first, last):
    """What the contracts bind the lab to pay over the months ``first`` to ``last - 1`` (USD)."""
    total = 0.0
    for k in range(size):
        end = table[END, k] if table[END, k] < last else last
        start = table[START, k] if table[START, k] > first else first
        overlap = end - start
        total += table[ACC, k] * table[PRICE, k] * (overlap if overlap > 0 else 0.0)
    return total


@njit(cache=True, nogil=True)
def put_row(table, k, cloud, start, end, acc, price):
    """Write a contract's fields into column ``k`` of the table."""
    table[CLOUD, k] = cloud
    table[START, k] = start
    table[END, k] = end
    table[ACC, k] = acc
    table[PRICE, k] = price


@njit(cache=True, nogil=True)
def keep_running(table, size, month):
    """Move the contracts still running in ``month`` (``end > month``) to the front, in order; returns how many."""
    kept = 0
    for k in range(size):
        if table[END, k] > month:
            if kept != k:
                table[:, kept] = table[:, k]
            kept += 1
    return kept


def numpy_total(total: float, count: int) -> float:
    """A sum of numpy floats as Python's ``sum`` leaves it: a numpy float, or the integer 0 when nothing was added."""
    return np.float64(total) if count else 0


class ContractBook:
    """A lab's contracts in the order signed, as a (5, capacity) table (see :data:`CLOUD`, ...) and a size.

    ``n_clouds`` is the number of the model's clouds, which contracts name by index. The month's
    figures are kept until the month or the book changes.
    """

    def __init__(self, n_clouds: int = 0, contracts: Iterable[Contract] = ()) -> None:
        self.n_clouds = n_clouds
        self.table = np.zeros((5, 16))
        self.size = 0
        self.version = 0  # counts changes, so that figures read before a change are read again
        self._month_at = self._month_version = -1  # the month and version the month's figures were read for
        self._month = (0, 0.0, 0)
        self._by_cloud = np.zeros((2, max(n_clouds, 1)))
        for c in contracts:
            self.sign(c)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Contract]:
        rows = self.table[:, : self.size].T.tolist()
        return (Contract(int(c), int(s), int(e), np.float64(a), p) for c, s, e, a, p in rows)

    def sign(self, contract: Contract) -> None:
        """Add a contract at the end of the book."""
        self.add(contract.cloud, contract.start, contract.end, contract.acc, contract.price_usd_per_acc_month)

    def add(self, cloud: int, start: int, end: int, acc: float, price_usd_per_acc_month: float) -> None:
        """Add a contract, given by its fields (see :class:`Contract`), at the end of the book."""
        if cloud >= self.n_clouds:
            self.n_clouds = cloud + 1
            self._by_cloud = np.zeros((2, self.n_clouds))
        if self.size == self.table.shape[1]:
            self.table = np.concatenate([self.table, np.zeros_like(self.table)], axis=1)
        put_row(self.table, self.size, cloud, start, end, acc, price_usd_per_acc_month)
        self.size += 1
        self.version += 1

    def drop_ended(self, month: int) -> None:
        """Forget the contracts that ended before ``month`` (``end <= month``), keeping the order of the rest."""
        kept = keep_running(self.table, self.size, month)
        if kept != self.size:
            self.size = kept
            self.version += 1

    def read_month(self, month: int) -> tuple[float, float, int]:
        """This month's live accelerators and value (USD/month), as numpy floats (0 when none), and how many are live."""
        if month != self._month_at or self.version != self._month_version:
            acc, value, count = read_month(self.table, self.size, month, self._by_cloud)
            self._month = (numpy_total(acc, count), numpy_total(value, count), count)
            self._month_at, self._month_version = month, self.version
        return self._month

    def month_by_cloud(self, month: int) -> tuple[list[float], list[float]]:
        """Accelerators and value (USD/month) of the contracts live in ``month``, per cloud (by index)."""
        self.read_month(month)
        acc, value = self._by_cloud.tolist()
        return acc[: self.n_clouds], value[: self.n_clouds]

    def booked(self, month: int, cloud: int = -1) -> float:
        """Accelerators under contract in ``month``, at one cloud or (``cloud`` -1) at all."""
        if cloud < 0 and month == self._month_at and self.version == self._month_version:
            return self._month[0]
        return numpy_total(*booked_in(self.table, self.size, month, cloud))

    def bound_usd(self, first: int, last: int) -> float:
        """What the contracts bind the lab to pay over the months ``first`` to ``last - 1`` (USD)."""
        return numpy_total(bound_to_pay(self.table, self.size, first, last), self.size)
