"""Robot controller: reads a temperature sensor on I2C and sweeps two servos."""

import time

from smbus2 import SMBus

from servo import Servo

SENSOR_BUS = 1
SENSOR_ADDR = 0x48  # a TMP102 on the sensor board


def read_celsius(bus):
    raw = bus.read_word_data(SENSOR_ADDR, 0)
    raw = ((raw << 8) & 0xFF00) | (raw >> 8)
    return (raw >> 4) * 0.0625


def main():
    left, right = Servo(0), Servo(1)
    with SMBus(SENSOR_BUS) as bus:
        angle = 0
        while True:
            print(f"temperature {read_celsius(bus):.1f} C, servos at {angle} degrees", flush=True)
            left.angle(angle)
            right.angle(180 - angle)
            angle = (angle + 30) % 210
            time.sleep(1)


if __name__ == "__main__":
    main()
