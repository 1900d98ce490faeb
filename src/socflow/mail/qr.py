"""QR codes in images (quishing): zxing-cpp's self-contained wheel reads them from Pillow
images, no system library needed. Bounded: images over the byte or pixel caps are not decoded,
and Pillow's decompression-bomb guard is set to the pixel cap."""

from __future__ import annotations

import io

MAX_IMAGE_BYTES = 8 << 20
MAX_PIXELS = 25_000_000


def decode(data: bytes) -> tuple[list[str], str]:
    """(texts of the codes found, a note when decoding was skipped or failed)."""
    if len(data) > MAX_IMAGE_BYTES:
        return [], "image larger than the QR scan cap: not decoded"
    try:
        import warnings

        import zxingcpp
        from PIL import Image
    except ImportError:
        return [], "QR decoding unavailable (zxing-cpp/Pillow not installed)"
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > MAX_PIXELS:
                    return [], "image has too many pixels to scan for QR codes"
                img.load()
                if img.mode not in ("L", "RGB", "RGBA"):
                    img = img.convert("RGB")
                found = zxingcpp.read_barcodes(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return [], "image has too many pixels to scan for QR codes"
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds on broken images
        return [], f"image unreadable: {type(exc).__name__}"
    return [r.text[:2000] for r in found if r.text][:10], ""
