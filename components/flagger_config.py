"""A tenant file's `release:` block as Flagger runs it, and what Flagger cannot express.

The block is written once, for either engine (`paved-road:delivery.engine`). Argo Rollouts walks
a list of steps; Flagger walks a list of weights (`analysis.stepWeights`) and moves to the next
one every `analysis.interval`, after a passing check (fluxcd/flagger v1.44,
pkg/controller/scheduler.go: `nextStepWeight`, `runCanary`). So a Rollout's steps translate when
they read "set a weight, hold it for D" with the same D every time:

    [{setWeight: 20}, {pause: 10m}, {setWeight: 50}, {pause: 10m}, {setWeight: 100}]
      → interval: 10m, stepWeights: [20, 50]   (the closing setWeight 100 is the promotion)

and are refused, naming the step, where they do not: a pause without a duration (Flagger has no
manual pause; it promotes when the analysis passes), pauses of different lengths (one interval
for every weight; a repeated weight stalls Flagger rather than holding it longer), a weight that
is not held by a pause, a weight that does not grow.

blueGreen keeps its analysis: `iterations` checks, one per analysis interval, exactly the
measurements of the Rollout's pre-promotion analysis (components/delivery/analysis.py). Flagger
cannot wait for a person to promote (that needs a gate service the platform does not run), so a
blue/green release that would wait (`autoPromotion: false`, production's default) is refused.

A kafka-consumer takes no traffic to shift: its Rollout weighs replicas, which Flagger cannot do.
Its Flagger form runs the new version beside the old one (the `kubernetes` provider, whose only
strategy is blue/green) for the same time the steps would have taken, one lag check per interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from components.apps_config import DURATION, AppConfig, Step

# Gateway API holds a Gateway to 64 listeners (the CRD's `maxItems`): one redirects plain HTTP,
# each of the others serves one approved tenant host (components/core/gateway.py).
GATEWAY_MAX_LISTENERS = 64
GATEWAY_SHARED_LISTENERS = 1

# What analysis.py's templates measure: ten one-minute measurements (kept here as numbers to
# spare the config package an import of the delivery layer; test_flagger.py holds them equal).
BLUE_GREEN_INTERVAL = "1m"
BLUE_GREEN_ITERATIONS = 10


@dataclass(frozen=True)
class FlaggerSchedule:
    """When Flagger checks and moves: every `interval`, to the next of `step_weights` (a canary)
    or for `iterations` checks (blue/green, and a consumer's side-by-side run)."""

    interval: str
    step_weights: tuple[int, ...] = ()
    iterations: Optional[int] = None


def _seconds(duration: str) -> int:
    match = DURATION.fullmatch(duration)
    assert match, duration
    parts = {key: int(value) for key, value in match.groupdict().items() if value}
    return parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)


def _steps(steps: list[Step]) -> tuple[Optional[FlaggerSchedule], list[tuple[str, str]]]:
    """The steps as an interval and weights, or why they cannot be (field relative to the app)."""
    found: list[tuple[str, str]] = []
    weights: list[int] = []
    pauses: list[tuple[int, str]] = []
    for index, step in enumerate(steps):
        where = f"release.steps[{index}]"
        if step.pause is not None:
            held = index > 0 and steps[index - 1].set_weight is not None
            if step.pause.duration is None:
                found.append(
                    (
                        f"{where}.pause",
                        "a pause without a duration waits for a person to promote; Flagger has "
                        "no such pause (it promotes when its analysis passes): give it a duration",
                    )
                )
            elif not held:
                found.append(
                    (
                        f"{where}.pause",
                        "Flagger holds each weight for one analysis interval: a pause must follow "
                        "a setWeight (a pause before the first weight, or two in a row, cannot "
                        "be expressed)",
                    )
                )
            else:
                pauses.append((index, step.pause.duration))
            continue
        weight = step.set_weight
        assert weight is not None
        followed = index + 1 < len(steps) and steps[index + 1].pause is not None
        if not followed:
            if index == len(steps) - 1 and weight == 100:
                continue  # the promotion, which Flagger does after the last weight's interval
            found.append(
                (
                    f"{where}.setWeight",
                    f"Flagger moves on only after an analysis interval: follow setWeight "
                    f"{weight} with a pause (or end the steps with setWeight: 100)",
                )
            )
        elif weight == 0:
            found.append((f"{where}.setWeight", "Flagger starts at 0%: a step to 0 means nothing"))
        elif weights and weight <= weights[-1]:
            found.append(
                (
                    f"{where}.setWeight",
                    f"{weight} does not grow from the previous weight {weights[-1]}: Flagger only "
                    "moves traffic forward",
                )
            )
        else:
            weights.append(weight)
    for index, duration in pauses[1:]:
        first = pauses[0][1]
        if _seconds(duration) != _seconds(first):
            found.append(
                (
                    f"release.steps[{index}].pause",
                    f"{duration} differs from the first pause ({first} at "
                    f"release.steps[{pauses[0][0]}]): Flagger holds every weight for the same "
                    "analysis interval, so every pause must be equally long",
                )
            )
    if not pauses and not found:
        found.append(
            (
                "release.steps",
                "Flagger needs at least one weight held by a pause: its analysis interval is the "
                "pause",
            )
        )
    if found:
        return None, found
    return FlaggerSchedule(interval=pauses[0][1], step_weights=tuple(weights)), []


def flagger_issues(app: AppConfig, *, production: bool) -> list[tuple[str, str]]:
    """What of the app's release Flagger cannot run, as (field relative to the app, message)."""
    if not app.needs_rollout:
        return []
    release = app.release
    if release.strategy == "blueGreen":
        promotes = release.auto_promotion
        if promotes is None:
            promotes = not production
        if not promotes:
            why = "explicitly" if release.auto_promotion is False else "by default in production"
            return [
                (
                    "release.autoPromotion",
                    f"the switch waits for a person ({why}), which Flagger cannot do without a "
                    "gate service the platform does not run: set autoPromotion: true, or run "
                    "paved-road:delivery.engine argo-rollouts",
                )
            ]
        return []
    return _steps(release.steps)[1]


def flagger_names(app: AppConfig) -> tuple[str, ...]:
    """The names Flagger gives objects of its own for the app (Deployment, Services, autoscaler
    of the primary; the canary's Service)."""
    if not app.needs_rollout:
        return ()
    return (f"{app.name}-primary", f"{app.name}-canary")


def flagger_schedule(app: AppConfig) -> FlaggerSchedule:
    """The schedule of an app flagger_issues accepted."""
    release = app.release
    if release.strategy == "blueGreen":
        checks = BLUE_GREEN_ITERATIONS if release.analysis.enabled else 1
        return FlaggerSchedule(interval=BLUE_GREEN_INTERVAL, iterations=checks)
    schedule, found = _steps(release.steps)
    assert schedule is not None and not found, "config.py refuses steps Flagger cannot express"
    if app.template == "kafka-consumer":
        # Side by side for as long as the weights would have taken, a lag check per interval.
        return FlaggerSchedule(interval=schedule.interval, iterations=len(schedule.step_weights))
    return schedule
