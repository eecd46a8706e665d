"""Timing-derived bound on GEMV cycles and PIM bandwidth utilization of one channel.

Metric (issue 5, docs/pim_model.md): per-channel PIM bandwidth utilization

    U = (#MACAB x mac_spacing) / job_cycles,        mac_spacing = max(tCCD_L, tCCD_MAC)

(``tCCD_L >= tCCD_S`` is a preset rule), i.e. the fraction of cycles the banks' MAC units
could be busy at their peak rate; scheduler efficiency is ``eta = U / U_bound``, where
``U_bound = (#MACAB x mac_spacing) / bound_cycles`` for the same job and loop order.

``bound_cycles`` is the length of the critical path of the job's row passes, computed pass by
pass from the timing values (a recurrence, no search). For pass ``i`` over ``R_i`` columns,
with ACTAB at ``A_i``, first and last MACAB at ``F_i`` and ``E_i`` and PREA at ``P_i``:

    A_i = max(A_j + tRC, P_j + tRP,            j = previous pass on the same row buffer
              A_(i-1) + tRRD_L,                 (the ACTABs touch every bank group)
              A_(i-n) + tFAW)                   n = 4 // faw_weight_actab (if the weight > 0)
    F_i = max(A_i + tRCD_MAC, E_(i-1) + mac_spacing, V_i)
    E_i = F_i + (R_i - 1) * mac_spacing
    P_i = max(E_i + tRTP, A_i + tRAS)

``V_i`` is when pass ``i``'s vector segment is in the global buffer: 0 when the segment is
already resident (it fits the ``gb_slots`` slots with all other segments, or the previous
pass used it), else the last of its ``n_i`` WRGBs lands ``CWL + BL`` after issue, the WRGBs
being ``wr = max(BL, tCCD_S)`` apart and starting one cycle after the slot is free:

    V_i = max(U_s + 1, W_prev + wr) + (n_i - 1) * wr + CWL + BL

where ``U_s`` is the PREA of the last pass that read slot ``s`` (the ``gb_busy`` lock) and
``W_prev`` the previous WRGB. With one slot the load cannot overlap any pass that reads the
slot (stock AiM); with two slots the next segment loads during the current pass. The first
pass starts at cycle 0 (its WRGBs too). The job ends when the data of its last RDMAC is
valid, ``E_last + 1 + CL`` (inclusive count from cycle 0; the other RDMACs follow their group's
last MAC during later passes). Where an accumulator is reused, its RDMAC (one cycle after the
group's last MAC at ``E``) must precede the next group's first MAC; when that pass loads a
vector, the RDMAC goes either before the WRGBs (``first WRGB >= E + 1 + tRTW``) or after them
(``F >= last WRGB + CWL + BL + tWTR_S + 2``: RDMAC, CLRMAC, MAC), whichever is earlier.

Refresh: a REF needs every row buffer closed (``tRP`` after the last PREA) and delays the next
ACTAB by ``tRFC``. Its cost at a pass boundary is the delay of that pass's first MAC (less than
``tRFC`` where a vector load is exposed anyway: the REF overlaps the WRGBs); ``n`` REFs cost at
least the ``n`` cheapest boundaries (a second REF at one boundary costs ``tRFC``).
``refresh="steady"`` (default, the long-run rate): ``T = T0 + cost(T / tREFI)`` (fractional
count; for stock full passes ``T = T0 / (1 - tRFC/tREFI)``, pim.md's factor); ``"none"``:
``T0``; ``"obligation"``: ``T = T0 + cost(n)`` with ``n`` the REFs the obligation forces
inside a job that starts at cycle ``start`` with ``refreshes_done`` REFs issued
(postponement included).

What is left out (each only makes the true minimum longer, so the result stays a bound):
one-command-per-cycle collisions and CLRMAC slots.

Loop orders (the placement of docs/pim_model.md / :func:`accelgen.verif.pim_dram.gemv_rows`):
``"m_outer"``: for each local group, for each K segment: load, one pass; then RDMAC.
``"k_outer"``: groups in windows of ``n_acc``; for each window, for each segment: load once,
one pass per group of the window (accumulator ``a``); then ``n_acc`` RDMACs.

Anchors (tests/test_pim_model.py): aim_gddr6 full 2 KB row pass = 56 + 63*2 + 12 + 32 = 226
cycles, U = 128/226 = 56.6 %; x (1 - 210/3333) = 53.1 % with refresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..hdl.util import ceil_div
from .pim_dram import ChannelSpec, Command

__all__ = ["Pass", "Bound", "row_pass_cycles", "gemv_passes", "passes_bound", "gemv_bound", "utilization",
           "plan_passes", "schedule_passes"]


@dataclass(frozen=True)
class Pass:
    """One row pass: ``columns`` MACABs on segment ``segment``; ``load`` WRGBs into ``slot``
    before it (0: the segment is resident)."""

    columns: int
    segment: int
    slot: int
    load: int
    rbuf: int = 0
    group: int = 0   #: local output group (its row: row_base + group * segments + segment)
    acc: int = 0     #: accumulator
    first: bool = True   #: first pass of its group (CLRMAC before it)
    last: bool = True    #: last pass of its group (RDMAC after it)


@dataclass(frozen=True)
class Bound:
    """Bound on one channel's job: ``cycles`` (with refresh), its refresh-free part
    ``cycles_no_refresh``, ``macs`` MACABs and ``u_bound`` = macs * mac_spacing / cycles."""

    cycles: float
    cycles_no_refresh: int
    macs: int
    mac_spacing: int
    passes: int
    loads: int
    reads: int
    parts: dict = field(default_factory=dict)

    @property
    def u_bound(self) -> float:
        """Utilization bound U_bound."""
        return self.macs * self.mac_spacing / self.cycles if self.cycles else 0.0

    def eta(self, cycles: float) -> float:
        """Scheduler efficiency of a schedule of ``cycles`` for the same job: U / U_bound."""
        return self.cycles / cycles


def _spec(params) -> ChannelSpec:
    return params if isinstance(params, ChannelSpec) else ChannelSpec.from_params(params)


def row_pass_cycles(params, columns: int | None = None) -> int:
    """ACTAB-to-ACTAB period of back-to-back passes over ``columns`` columns (default: a full
    row) with a resident vector and one row buffer."""
    spec = _spec(params)
    r = spec.columns if columns is None else columns
    return max(spec.tRC, spec.tRAS + spec.tRP, spec.tRCD_MAC + (r - 1) * spec.mac_spacing + spec.tRTP + spec.tRP)


def utilization(macs: int, params, cycles: float) -> float:
    """U = macs * mac_spacing / cycles."""
    return macs * _spec(params).mac_spacing / cycles


def gemv_passes(params, m: int, k: int, channels: int = 1, order: str | None = None,
                keep_resident: bool = True) -> tuple[list[Pass], int]:
    """Row passes of the busiest channel of an ``m x k`` GEMV over ``channels`` channels, and
    the number of RDMACs after the last pass (see :func:`plan_passes`)."""
    spec = _spec(params)
    if m < 1 or k < 1 or channels < 1:
        raise ValueError(f"m={m}, k={k}, channels={channels} must be at least 1")
    groups = ceil_div(m, spec.banks)
    return plan_passes(spec, ceil_div(groups, channels), k, order, keep_resident)


def plan_passes(params, local_groups: int, k: int, order: str | None = None,
                keep_resident: bool = True) -> tuple[list[Pass], int]:
    """Row passes of one channel holding ``local_groups`` output groups of a length-``k`` GEMV,
    and the number of RDMACs of the last accumulator window. ``order`` defaults to
    ``"k_outer"`` when ``n_acc > 1``, else ``"m_outer"``. A segment is loaded into slot
    ``segment % gb_slots`` unless that slot already holds it; with ``keep_resident=False`` it
    is reloaded for every accumulator window unless the vector is a single segment."""
    spec = _spec(params)
    if local_groups < 1 or k < 1:
        raise ValueError(f"local_groups={local_groups}, k={k} must be at least 1")
    order = order or ("k_outer" if spec.n_acc > 1 else "m_outer")
    if order not in ("m_outer", "k_outer"):
        raise ValueError(f"order={order!r} must be 'm_outer' or 'k_outer'")
    seg = spec.row_elems
    segments = ceil_div(k, seg)
    columns = [ceil_div(min(k, (s + 1) * seg) - s * seg, spec.lanes) for s in range(segments)]
    window = spec.n_acc if order == "k_outer" else 1
    passes = []
    slot_of = {}
    rbuf = 0
    for w0 in range(0, local_groups, window):
        width = min(window, local_groups - w0)
        for s in range(segments):
            slot = s % spec.gb_slots
            for a in range(width):
                resident = slot_of.get(slot) == s and (keep_resident or segments == 1)
                need = a == 0 and not resident
                passes.append(Pass(columns[s], s, slot, columns[s] if need else 0, rbuf,
                                   group=w0 + a, acc=a, first=s == 0, last=s == segments - 1))
                slot_of[slot] = s
                rbuf = (rbuf + 1) % spec.rbufs
    return passes, local_groups - (local_groups - 1) // window * window


def passes_bound(params, passes: list[Pass], reads: int = 1, *, refresh: str = "steady",
                 start: int = 0, refreshes_done: int = 0) -> Bound:
    """Bound of a list of row passes followed by ``reads`` RDMACs (see the module docstring)."""
    spec = _spec(params)
    mac = spec.mac_spacing
    wr = max(spec.BL, spec.tCCD_S)
    act_gap = max(spec.tRRD_L, spec.tRRD_S)
    faw_n = 4 // spec.faw_weight_actab if spec.faw_weight_actab else 0
    acts: list[int] = []
    last_act = {}    # rbuf -> ACTAB cycle
    last_pre = {}    # rbuf -> PREA cycle
    slot_free = {}   # slot -> PREA of the last pass that read it
    last_wrgb = None
    pending_read = {}   # acc -> last MAC of the group whose RDMAC is still to come
    ref_costs = []      # delay of the first MAC if one REF goes just before each pass
    prev_end = None
    macs = loads = 0
    for p in passes:
        a = 0
        if p.rbuf in last_act:
            a = max(last_act[p.rbuf] + spec.tRC, last_pre[p.rbuf] + spec.tRP)
        if acts:
            a = max(a, acts[-1] + act_gap)
        if faw_n and len(acts) >= faw_n:
            a = max(a, acts[-faw_n] + spec.tFAW)
        ready = 0
        rd = pending_read.pop(p.acc, None) if p.first else None
        if p.load:
            first = 0 if p.slot not in slot_free else slot_free[p.slot] + 1
            if last_wrgb is not None:
                first = max(first, last_wrgb + wr)
            last = first + (p.load - 1) * wr
            ready = last + spec.CWL + spec.BL
            if rd is not None:
                # The accumulator's previous RDMAC goes before the loads (read-to-write
                # turnaround) or after them (write-to-read turnaround, then CLRMAC).
                before = max(first, rd + 1 + spec.tRTW) + (p.load - 1) * wr
                after = last + spec.CWL + spec.BL + spec.tWTR_S + 2
                if before + spec.CWL + spec.BL <= after:
                    last = before
                    ready = before + spec.CWL + spec.BL
                else:
                    ready = after
            last_wrgb = last
            loads += 1
        elif rd is not None:
            ready = rd + 3   # RDMAC, CLRMAC, then the first MAC
        floor_f = ready if prev_end is None else max(ready, prev_end + mac)
        f = max(a + spec.tRCD_MAC, floor_f)
        # Cost of a REF just before this pass: all row buffers closed (tRP), then tRFC.
        ref_at = max(last_pre.values(), default=-spec.tRP) + spec.tRP
        ref_costs.append(max(0, max(ref_at + spec.tRFC + spec.tRCD_MAC, floor_f) - f))
        e = f + (p.columns - 1) * mac
        pre = max(e + spec.tRTP, a + spec.tRAS)
        acts.append(a)
        last_act[p.rbuf], last_pre[p.rbuf] = a, pre
        slot_free[p.slot] = pre
        prev_end = e
        macs += p.columns
        if p.last:
            pending_read[p.acc] = e
    # Only the last RDMAC is exposed: the others follow their group's last MAC during later passes.
    end = (prev_end if prev_end is not None else -1) + 1 + spec.CL + 1
    t0 = end
    ref_costs.sort()

    def refresh_cost(n: float) -> float:
        # The n cheapest places for a REF: one per pass boundary, further ones cost tRFC.
        whole = int(n)
        costs = ref_costs[:whole] + [spec.tRFC] * max(0, whole - len(ref_costs))
        following = ref_costs[whole] if whole < len(ref_costs) else spec.tRFC
        return sum(costs) + (n - whole) * following

    if not spec.refresh or refresh == "none":
        cycles = float(t0)
    elif refresh in ("steady", "obligation"):
        cycles = float(t0)
        for _ in range(1000):
            if refresh == "steady":
                count = cycles / spec.tREFI
            else:
                count = max(0, int(start + cycles) // spec.tREFI - spec.refresh_postpone - refreshes_done)
            new = t0 + refresh_cost(count)
            if abs(new - cycles) < 1e-9:
                break
            cycles = new
    else:
        raise ValueError(f"refresh={refresh!r} must be 'steady', 'none' or 'obligation'")
    return Bound(cycles, t0, macs, mac, len(passes), loads, reads,
                 {"row_pass": row_pass_cycles(spec), "refresh_cost": ref_costs[len(ref_costs) // 2] if ref_costs else 0,
                  "refresh_factor": cycles / t0 if t0 else 1.0})


def gemv_bound(params, m: int, k: int, channels: int = 1, order: str | None = None,
               keep_resident: bool = True, **kwargs) -> Bound:
    """Bound of an ``m x k`` GEMV on ``channels`` channels (the busiest channel); ``kwargs``
    go to :func:`passes_bound` (``refresh``, ``start``, ``refreshes_done``)."""
    passes, reads = gemv_passes(params, m, k, channels, order, keep_resident)
    return passes_bound(params, passes, reads, **kwargs)


def schedule_passes(model, passes: list[Pass], k: int, x, *, row_base: int = 0, clear: bool = True,
                    start: int = 0) -> tuple[list, list]:
    """Reference scheduler: issue the passes' commands through ``model`` (its checker must be
    on), each as early as the timing rules and the data dependencies allow.

    Five in-order queues (ACTAB, MACAB, PREA, CLRMAC/RDMAC, WRGB) are merged cycle by cycle:
    the ready command with the earliest legal cycle goes first (ties: ACTAB, MACAB, PREA,
    results, WRGB). Dependencies: a pass's MACABs follow its ACTAB, its vector's WRGBs and its
    group's CLRMAC; its PREA its last MACAB; an ACTAB the PREA of the previous pass on that row
    buffer; a WRGB the PREA of the last pass that read the slot; an RDMAC its group's last
    MACAB; a CLRMAC the previous RDMAC of that accumulator. With refresh on, a REF goes in
    before an ACTAB when the next refresh deadline is closer than a row pass plus tRFC.
    Returns ``(schedule, returns)`` like :func:`accelgen.verif.pim_dram.issue_asap`.
    """
    spec = model.spec
    checker = model.checker
    x = list(x)
    seg, lanes = spec.row_elems, spec.lanes
    segments = ceil_div(k, seg)
    order = ("ACT", "MAC", "PRE", "RES", "VEC")
    queues = {q: [] for q in order}
    nodes = []

    def add(queue, cmd, deps):
        nodes.append((cmd, [d for d in deps if d is not None]))
        queues[queue].append(len(nodes) - 1)
        return len(nodes) - 1

    pre_by_rbuf, pre_by_slot, load_of, rd_by_acc, clr_of = {}, {}, {}, {}, {}
    mid_load = set()   # WRGBs that continue a load (an RDMAC between them costs two turnarounds)
    load_len = {}      # first WRGB of a load -> WRGBs in the load
    wr = max(spec.BL, spec.tCCD_S)
    for p in passes:
        if p.first and clear:
            clr_of[p.group] = add("RES", Command("CLRMAC", acc=p.acc), [rd_by_acc.get(p.acc)])
        if p.load:
            for c in range(p.load):
                lo = p.segment * seg + c * lanes
                chunk = [x[i] if i < k else 0 for i in range(lo, lo + lanes)]
                load_of[p.segment] = add("VEC", Command("WRGB", col=c, slot=p.slot, data=model.column_word(chunk)),
                                         [pre_by_slot.get(p.slot)])
                if c:
                    mid_load.add(load_of[p.segment])
                else:
                    load_len[load_of[p.segment]] = p.load
        act = add("ACT", Command("ACTAB", row=(row_base + p.group * segments + p.segment) % spec.rows, rbuf=p.rbuf),
                  [pre_by_rbuf.get(p.rbuf)])
        mac = None
        for c in range(p.columns):
            deps = [act, load_of.get(p.segment), clr_of.get(p.group)] if c == 0 else []
            mac = add("MAC", Command("MACAB", col=c, acc=p.acc, slot=p.slot, rbuf=p.rbuf), deps)
        pre = add("PRE", Command("PREA", rbuf=p.rbuf), [mac])
        pre_by_rbuf[p.rbuf] = pre_by_slot[p.slot] = pre
        if p.last:
            rd_by_acc[p.acc] = add("RES", Command("RDMAC", acc=p.acc), [mac])

    issued = [None] * len(nodes)
    heads = {q: 0 for q in order}
    schedule, returns = [], []
    t = start
    guard = spec.rbufs * row_pass_cycles(spec) + spec.tRP + spec.tRFC
    while any(heads[q] < len(queues[q]) for q in order):
        best = None
        res_head = queues["RES"][heads["RES"]] if heads["RES"] < len(queues["RES"]) else None
        rdmac_ready = (res_head is not None and nodes[res_head][0].op == "RDMAC"
                       and all(issued[d] is not None for d in nodes[res_head][1]))
        vec_head = queues["VEC"][heads["VEC"]] if heads["VEC"] < len(queues["VEC"]) else None
        rdmac_first = True
        if rdmac_ready and vec_head is not None and vec_head not in mid_load \
                and all(issued[d] is not None for d in nodes[vec_head][1]):
            # An RDMAC and a vector load both ready: the RDMAC goes first (the load waits
            # tRTW) or after the load (it waits CWL + BL + tWTR_S, then CLRMAC), whichever
            # lets the load's data be used earlier.
            rd_at, _ = checker.earliest(nodes[res_head][0], after=t)
            load_at, _ = checker.earliest(nodes[vec_head][0], after=t)
            span = (load_len[vec_head] - 1) * wr
            before = max(load_at, rd_at + spec.tRTW) + span + spec.CWL + spec.BL
            after = load_at + span + spec.CWL + spec.BL + spec.tWTR_S + 2
            rdmac_first = before <= after
        for rank, q in enumerate(order):
            if heads[q] >= len(queues[q]):
                continue
            i = queues[q][heads[q]]
            cmd, deps = nodes[i]
            if any(issued[d] is None for d in deps):
                continue
            if cmd.op == "RDMAC" and (vec_head in mid_load or not rdmac_first):
                continue   # let the vector load go first
            if q == "VEC" and rdmac_ready and i not in mid_load and rdmac_first:
                continue   # the ready RDMAC goes before the next vector load starts
            after = max([t] + [issued[d] + 1 for d in deps])
            if q == "ACT" and spec.refresh:
                deadline = (checker.refreshes + 1 + spec.refresh_postpone) * spec.tREFI - 1
                if deadline < after + guard:
                    if any(r is not None for b in checker.open_rows for r in b):
                        continue   # no new pass: let the open ones finish, then refresh
                    cmd, i = Command("REF"), None
            e, _ = checker.earliest(cmd, after=after)
            if best is None or (e, rank) < best[:2]:
                best = (e, rank, q, i, cmd)
        if best is None:
            raise RuntimeError("reference schedule deadlocked (dependency cycle)")
        e, _, q, i, cmd = best
        returns += model.pop_returns(e - 1)
        ret = model.step(e, cmd)
        if ret is not None:
            returns.append(ret)
        schedule.append((e, cmd))
        if i is not None:
            issued[i] = e
            heads[q] += 1
        t = e + 1
    returns += model.pop_returns(t + spec.CL)
    return schedule, returns
