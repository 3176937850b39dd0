"""The store: cases, their events and outbound jobs, committed together (DESIGN.md decision 5)."""
