"""Hardware of the DRAM-PIM controller (design ``pim_ctrl``).

- :mod:`.isa`: command set, command slot and stream layouts (the contract between the
  controller and any model of the memory).
- :mod:`.presets`: organisation and timing of a PIM-DRAM channel, named presets, checks.
- :mod:`.timing`: the declarative timing table.
- :mod:`.gate`: the per-channel timing gate generated from that table.
"""
