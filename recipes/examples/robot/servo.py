"""Hardware PWM servos through /sys/class/pwm (dtoverlay=pwm-2chan)."""

import pathlib

CHIP = pathlib.Path("/sys/class/pwm/pwmchip0")
PERIOD_NS = 20_000_000  # 50 Hz


class Servo:
    def __init__(self, channel):
        self.dir = CHIP / f"pwm{channel}"
        if not self.dir.exists():
            (CHIP / "export").write_text(str(channel))
        (self.dir / "period").write_text(str(PERIOD_NS))
        (self.dir / "enable").write_text("1")

    def angle(self, degrees):
        pulse_ns = 1_000_000 + int(degrees / 180 * 1_000_000)
        (self.dir / "duty_cycle").write_text(str(pulse_ns))
