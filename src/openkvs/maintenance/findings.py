"""What a check found: damage (data that cannot be read back as stored) and waste (bodies no
record uses)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Findings:
    damage: list[str] = field(default_factory=list)  # missing, truncated or corrupt bodies
    unreferenced: list[str] = field(default_factory=list)  # body files or objects nobody uses
    notes: list[str] = field(default_factory=list)  # what was looked at, what was repaired
    records: int = 0
    bodies: int = 0  # records whose body lives in a file or object

    @property
    def clean(self) -> bool:
        return not self.damage and not self.unreferenced

    def lines(self) -> list[str]:
        out = [f"DAMAGED  {line}" for line in self.damage]
        out += [f"UNUSED   {line}" for line in self.unreferenced]
        out += self.notes
        verdict = (
            "clean"
            if self.clean
            else (f"{len(self.damage)} damaged, {len(self.unreferenced)} unreferenced")
        )
        out.append(f"checked {self.records} records ({self.bodies} with a body file): {verdict}")
        return out
