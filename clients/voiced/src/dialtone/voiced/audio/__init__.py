"""Audio for the voice daemon: devices, frames, levels, voice activity, Opus, mixing.

Everything works on 20 ms frames of 48 kHz mono signed 16-bit samples (`FRAME_SAMPLES`), the unit
of capture, of Opus packets and of playback.
"""
