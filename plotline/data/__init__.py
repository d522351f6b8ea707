"""Instruction sources: importing prompt lists and (later) generating or synthesising instructions."""
