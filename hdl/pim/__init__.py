"""Hardware of the DRAM-PIM controller (design ``pim_ctrl``).

The contract and the tables:

- :mod:`.isa`: command set, command slot and stream layouts (the contract between the
  controller and any model of the memory), :class:`~.isa.LayoutParams`.
- :mod:`.presets`: organisation and timing of a PIM-DRAM channel, named presets, checks.
- :mod:`.timing`: the declarative timing table.
- :mod:`.gate`: the per-channel timing gate generated from that table.

The controller's units (each a ``wiring.Component``; :mod:`accelgen.generators.pim_ctrl`
instantiates and wires them):

- :mod:`.interfaces`: payload layouts and signatures between the units.
- :mod:`.job`: :class:`~.job.JobSetup`, the job descriptor registers and the job's end.
- :mod:`.vector_buffer`: :class:`~.vector_buffer.VectorBuffer`, the job's vector.
- :mod:`.address_gen`: :class:`~.address_gen.AddressGenerator`, the loop nest.
- :mod:`.activate`: :class:`~.activate.ActivateUnit`, ACTAB.
- :mod:`.mac_unit`: :class:`~.mac_unit.MacUnit`, MACAB, RDMAC, CLRMAC.
- :mod:`.precharge`: :class:`~.precharge.PrechargeUnit`, PREA.
- :mod:`.vector_loader`: :class:`~.vector_loader.VectorLoader`, WRGB and the slot credits.
- :mod:`.refresh`: :class:`~.refresh.RefreshEngine`, REF.
- :mod:`.arbiter`: :class:`~.arbiter.CommandArbiter`, timing gates, priority, command slots.
- :mod:`.results`: :class:`~.results.ResultCollector`, read returns to the result stream.
- :mod:`.counters`: :class:`~.counters.PerfCounters`, performance and stall counters.
"""
