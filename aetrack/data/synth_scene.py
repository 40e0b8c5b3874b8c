"""The moving population of a synthetic sequence: spawning, smooth walking with turns and stops,
bouncing off the edges of the floor, and leaving through the side borders.

Positions are the object's foot in frame pixels (camera at rest); heights follow the
perspective of :meth:`aetrack.data.synth.SynthConfig.height_at`. Rendering is elsewhere
(:mod:`aetrack.data.synth_render`), the frame loop in :mod:`aetrack.data.synth`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from aetrack.data.synth_render import Look, Sprite, distinct_look, draw_sprite, twin_look

if TYPE_CHECKING:
    from aetrack.data.synth_config import SynthConfig


@dataclass
class Agent:
    """Mutable state of one object while it is in the scene."""

    look: Look
    sprite: Sprite
    x: float  # foot column, pixels (camera at rest)
    y: float  # foot row, pixels
    heading: float  # radians; 0 = moving right, pi/2 = towards the camera (down the frame)
    turn: float  # turn rate, radians/frame
    speed: float  # cruise speed, body heights per second
    pace: float  # current fraction of the cruise speed (0 while stopped)
    stop_left: int  # frames of the current stop still to go
    gt_id: int = 0  # assigned on the first frame the object overlaps the frame


class Scene:
    """The moving population: spawning, motion, exits. Draws only from its own generators."""

    def __init__(self, cfg: SynthConfig, rng: np.random.Generator, look_rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.rng = rng
        self.look_rng = look_rng
        self.agents: list[Agent] = []
        self.recent: list[Look] = []  # looks of identities seen lately, kept distinct from new ones
        top, bottom = cfg.foot_rows()
        for _ in range(cfg.objects):
            x = float(rng.uniform(0.05, 0.95) * cfg.width)
            self.agents.append(self._new_agent(x=x, y=float(rng.uniform(top, bottom)),
                                               heading=self._side_heading(rng.random() < 0.5)))

    def _side_heading(self, rightwards: bool) -> float:
        base = 0.0 if rightwards else math.pi
        return base + float(self.rng.normal(0.0, self.cfg.heading_spread))

    def _new_look(self) -> Look:
        cfg, rng = self.cfg, self.look_rng
        if self.agents and rng.random() < cfg.lookalike_rate:
            return twin_look(rng, self.agents[int(rng.integers(len(self.agents)))].look)
        look = distinct_look(rng, self.recent, candidates=cfg.look_candidates)
        self.recent = (self.recent + [look])[-2 * max(cfg.objects, 1):]
        return look

    def _new_agent(self, *, x: float, y: float, heading: float) -> Agent:
        look = self._new_look()
        speed = self.cfg.speed * max(0.2, 1.0 + self.cfg.speed_spread * float(self.rng.normal()))
        return Agent(look=look, sprite=draw_sprite(look), x=x, y=y, heading=heading, turn=0.0,
                     speed=speed, pace=1.0, stop_left=0)

    def body_height(self, a: Agent) -> int:
        return max(6, int(round(self.cfg.height_at(a.y) * a.look.scale)))

    def step(self) -> None:
        """Advance every object one frame, drop those that left, maybe let a new one enter."""
        cfg, rng = self.cfg, self.rng
        top, bottom = cfg.foot_rows()
        for a in self.agents:
            if a.stop_left > 0:
                a.stop_left -= 1
            elif rng.random() < cfg.stop_rate:
                a.stop_left = int(rng.integers(cfg.stop_frames[0], cfg.stop_frames[1] + 1))
            target = 0.0 if a.stop_left > 0 else 1.0
            a.pace += cfg.pace_gain * (target - a.pace)
            a.turn = cfg.turn_decay * a.turn + float(rng.normal(0.0, cfg.turn_noise))
            if rng.random() < cfg.turn_event_rate:
                a.turn += float(rng.choice([-1.0, 1.0]) * rng.uniform(*cfg.turn_impulse))
            a.heading += a.turn * a.pace
            step = a.pace * a.speed * cfg.height_at(a.y) / cfg.fps  # pixels this frame
            a.x += step * math.cos(a.heading)
            a.y += step * math.sin(a.heading) * cfg.depth_motion
            if (a.y < top and math.sin(a.heading) < 0) or (a.y > bottom and math.sin(a.heading) > 0):
                a.heading = -a.heading  # stay on the floor: bounce off the band's edges
                a.turn = -a.turn
            a.y = min(max(a.y, top), bottom)
        self.agents = [a for a in self.agents if not self._gone(a)]
        if len(self.agents) < cfg.objects and rng.random() < cfg.spawn_rate:
            from_left = rng.random() < 0.5
            y = float(rng.uniform(top, bottom))
            agent = self._new_agent(x=0.0, y=y, heading=self._side_heading(from_left))
            half = self.body_height(agent) / agent.look.aspect / 2.0
            agent.x = -half + 2.0 if from_left else cfg.width + half - 2.0  # 2 px already inside
            self.agents.append(agent)

    def _gone(self, a: Agent) -> bool:
        """Entirely outside the frame (with a margin for camera jitter): the object has left."""
        margin = 3.0 * self.cfg.camera_jitter + 2.0
        half = self.body_height(a) / a.look.aspect / 2.0
        return a.x + half < -margin or a.x - half > self.cfg.width + margin
