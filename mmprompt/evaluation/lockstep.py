"""Timing several models fairly on a noisy CPU: the fastest of a few
tries per round, and inferences run side by side stage by stage."""
import threading

import torch

from .timing import round_order


def median(values):
    """The middle value (upper of the two middle ones); NaN if empty."""
    return sorted(values)[len(values) // 2] if values else float('nan')


def best_of_round(items, index, tries, run):
    """Round ``index``: ``tries`` passes over ``items``, each in the order
    opposite to the one before (round ``index`` starts as
    :func:`round_order` says), ``run(item)`` returning a time: {item:
    its times in the order run}. The fastest is the round's time: other
    work on the machine only adds time, so the fastest of a few tries made
    seconds apart is the least disturbed."""
    times = {item: [] for item in items}
    for j in range(tries):
        for item in round_order(items, index + j):
            times[item].append(run(item))
    return times


class TakeTurns:
    """One thread per place ``k`` (it lives until :meth:`close`, so a
    method always runs in the same thread, with its warm thread pool and
    heap), running the calls :meth:`run` gives them one at a time, taking
    turns: the one whose turn it is runs until it calls :meth:`pass_turn`
    (or returns); then the next in the order that has not returned runs,
    cycling."""

    def __init__(self, count):
        self._changed = threading.Condition()
        self._turn, self._closed = None, False
        self._order, self._calls = list(range(count)), [None] * count
        self._results, self._errors = [None] * count, []
        threads = torch.get_num_threads()
        self._workers = [
            threading.Thread(
                target=self._serve, args=(k, threads), daemon=True)
            for k in range(count)
        ]
        for worker in self._workers:
            worker.start()

    def _serve(self, k, threads):
        torch.set_num_threads(threads)  # (a new thread's own pool)
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._turn == k or self._closed)
                if self._closed:
                    return
                call = self._calls[k]
            try:
                self._results[k] = call(k)
            except BaseException as error:  # raised by run()
                self._errors.append(error)
            finally:
                self.pass_turn(k, returned=True)

    def wait(self, k):
        """Block until it is turn ``k``."""
        with self._changed:
            self._changed.wait_for(lambda: self._turn == k)

    def pass_turn(self, k, returned=False):
        """Turn ``k`` ends; ``returned``: its call has returned."""
        with self._changed:
            if returned:
                self._calls[k] = None
            place, count = self._order.index(k), len(self._order)
            self._turn = next((self._order[(place + step) % count]
                               for step in range(1, count + 1)
                               if self._calls[self._order[(place + step) %
                                                          count]] is not None),
                              None)
            self._changed.notify_all()

    def run(self, calls, order=None):
        """``calls[k](k)`` in thread ``k``, taking turns in ``order`` (by
        default 0, 1, ...): their results (once all have returned; the
        first exception is raised then)."""
        with self._changed:
            self._order = list(range(len(calls)) if order is None else order)
            self._calls, self._errors = list(calls), []
            self._turn = self._order[0]
            self._changed.notify_all()
            self._changed.wait_for(
                lambda: all(call is None for call in self._calls))
        if self._errors:
            raise self._errors[0]
        return list(self._results)

    def close(self):
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        for worker in self._workers:
            worker.join()


def lockstep_round(benches, index, tries, turns):
    """:func:`best_of_round` of inferences whose passes run in lockstep
    (``turns``: a :class:`TakeTurns` with a place for each bench): in each
    pass every bench runs a stage and hands over to the next (the passes
    alternate their order as there), {bench: its times in the order run},
    each the sum of its own stages."""
    times = {bench: [] for bench in benches}
    for j in range(tries):
        order = round_order(range(len(benches)), index + j)
        results = turns.run(
            [lambda k, b=b: b.infer((turns, k)) for b in benches], order)
        for k in order:
            times[benches[k]].append(results[k])
    return times
