"""Configuration of the synthetic smear generator."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rbc_dataset.errors import UsageError, check_choice, check_seed
from rbc_dataset.layout import TILE_ORDERS

MASK_STYLES = ("binary", "anerbc")
# What `rbc-dataset calibrate` measures on a lab's real images (rbc_dataset/synth/calibrate.py).
LAB_KEYS = (
    "background_r",
    "background_g",
    "background_b",
    "absorption_r",
    "absorption_g",
    "absorption_b",
    "blur_sigma",
    "noise_channel",
    "cell_diameter_px",
    "foreground_fraction",
    "background_spread",  # std across the lab's images, grey levels per channel
    "absorption_spread",  # std across the lab's images of log absorption per channel
)
# Optional lab keys (older lab.yaml files lack them; the generator's defaults apply), with their allowed range.
LAB_OPTIONAL_KEYS: dict[str, tuple[float, float]] = {
    "cell_aspect": (1.0, 2.0),  # median major/minor axis of the normal cells drawn
    "pallor_depth": (0.0, 1.0),  # mean depth of the cells' pale centre (0 flat, 1 empty)
    "pallor_radius": (0.1, 0.7),  # mean radius of the pale centre, share of the cell's radius
    "cell_density_spread": (0.0, 0.5),  # cell-to-cell spread of haemoglobin density (share of the mean)
    "platelet_density": (0.0, 2000.0),  # platelets (single or grouped) drawn per megapixel
}
SHORTCUTS = ("colour", "mask")
MAX_CELL_OVERLAP = 0.6  # beyond this, one cell hides most of another: no longer a smear anyone annotates
MAX_ROUNDED_EDGE = 0.5  # a cell thinning over more than its outer half is no longer a biconcave disc
MAX_DEFOCUS = 1.5  # beyond this the halo outshines the background: a contour drawing, not a photograph


@dataclass(frozen=True)
class SynthConfig:
    """Everything that decides the bytes of a synthetic dataset (same config -> same files)."""

    n_images: int = 4  # AneRBC-I images per class; AneRBC-II has 12 tiles of each
    seed: int = 0  # the only source of randomness
    mask_style: str = (
        "anerbc"  # Binary_segmented encoding: "binary" (clean 0/255, cell = 255) or "anerbc" (as released)
    )
    defect_rate: float = 0.0  # share of image/mask pairs that get one known ground-truth defect
    shortcuts: tuple[str, ...] = ()  # confounds to plant: "colour" (white balance by class), "mask" (mask darkness)
    tile_order: str = "row-major"  # order of AneRBC-II tiles 01..12 in the parent grid
    cbc_reuse: float = 0.0  # share of images whose CBC report is a verbatim copy of another image's (as in AneRBC)
    cell_overlap: float = 0.0  # extra depth two cells may overlap, share of r1 + r2 (0: 5 % at most, as AneRBC's)
    rounded_edge: float = 0.0  # outer share of each cell's radius over which it thins to nothing (0: flat to the edge)
    defocus: float = 0.0  # largest defocus halo strength an image may draw (render.sample_defocus; 0: in focus)
    with_tiles: bool = True  # also write AneRBC-II
    lab: dict[str, float] | None = None  # a lab's measured look (LAB_KEYS, LAB_OPTIONAL_KEYS; `calibrate`); None: broad
    workers: int = field(default=0, compare=False)  # processes; 0 = all cores (does not change the output)

    def __post_init__(self) -> None:
        if self.n_images < 1:
            raise UsageError(f"--n-images must be at least 1, got {self.n_images}")
        if not 0.0 <= self.defect_rate <= 1.0:
            raise UsageError(f"--defects must be a rate in [0, 1], got {self.defect_rate}")
        if not 0.0 <= self.cbc_reuse <= 1.0:
            raise UsageError(f"--cbc-reuse must be a rate in [0, 1], got {self.cbc_reuse}")
        if not 0.0 <= self.cell_overlap <= MAX_CELL_OVERLAP:
            raise UsageError(f"--cell-overlap must lie in [0, {MAX_CELL_OVERLAP}], got {self.cell_overlap}")
        if not 0.0 <= self.rounded_edge <= MAX_ROUNDED_EDGE:
            raise UsageError(f"--rounded-edge must lie in [0, {MAX_ROUNDED_EDGE}], got {self.rounded_edge}")
        if not 0.0 <= self.defocus <= MAX_DEFOCUS:
            raise UsageError(f"--defocus must lie in [0, {MAX_DEFOCUS}], got {self.defocus}")
        if self.n_images > 999:
            raise UsageError(f"--n-images is at most 999 per class (3-digit AneRBC names), got {self.n_images}")
        check_seed("--seed", self.seed)
        check_choice("mask style", self.mask_style, choices=MASK_STYLES)
        check_choice("tile order", self.tile_order, choices=TILE_ORDERS)
        for shortcut in self.shortcuts:
            check_choice("shortcut", shortcut, choices=SHORTCUTS)
        if self.lab is not None:
            _check_lab(self.lab)

    def to_dict(self) -> dict:
        """Plain dict for YAML/JSON (workers left out: it does not change the output)."""
        data = asdict(self)
        data.pop("workers")
        data["shortcuts"] = list(self.shortcuts)
        return data


def _check_lab(lab: dict[str, float]) -> None:
    """Keys known and complete, every value a number, the required ones positive, the optional ones in range."""
    if not isinstance(lab, dict):
        raise UsageError(f"lab: expected a mapping of {', '.join(LAB_KEYS)}, found {lab!r}. Fix: calibrate again")
    missing, unknown = sorted(set(LAB_KEYS) - set(lab)), sorted(set(lab) - set(LAB_KEYS) - set(LAB_OPTIONAL_KEYS))
    if missing or unknown:
        raise UsageError(
            f"lab: expected the keys {', '.join(LAB_KEYS)} (optional: {', '.join(LAB_OPTIONAL_KEYS)}), found "
            f"{'missing ' + ', '.join(missing) if missing else ''}"
            f"{'; ' if missing and unknown else ''}{'unknown ' + ', '.join(unknown) if unknown else ''}. "
            "Fix: write the lab section with `rbc-dataset calibrate REAL_DIR --out lab.yaml`"
        )
    wrong = {key: value for key, value in lab.items() if isinstance(value, bool) or not isinstance(value, int | float)}
    if wrong:
        raise UsageError(f"lab: every value must be a number, found {wrong}. Fix: calibrate again")
    if any(not lab[key] > 0 for key in LAB_KEYS):
        raise UsageError(f"lab: every value must be positive, found {lab}. Fix: calibrate again")
    for key, (low, high) in LAB_OPTIONAL_KEYS.items():
        if key in lab and not low <= lab[key] <= high:
            raise UsageError(f"lab: {key} must lie in [{low}, {high}], found {lab[key]}. Fix: calibrate again")
