"""Specification of the one-time-code rules in bot.otp.core, driven by a virtual clock."""

from __future__ import annotations

import copy
import hmac
import pickle
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import BotError, OTPRefused, PolicyError, ValidationError
from bot.otp.core import (
    CODE_LIFE,
    MAX_FAILURES,
    Challenge,
    OneTimeCode,
    SendDecision,
    SendHistory,
    SendReason,
    VerifyResult,
    carried_failures,
    code_digest,
    generate_code,
    issue,
    may_send,
    template_expiration_minutes,
    template_ttl_seconds,
    verify,
)

KEY = "test-secret-key"
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
NAIVE = datetime(2025, 3, 3, 9, 0)
CODE = "042917"
OTHER = "042918"
WA = "15551234567"


def at(minutes: int = 0, seconds: float = 0) -> datetime:
    """The instant `minutes:seconds` after T0 on the virtual clock."""
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def new(code: str = CODE, *, now: datetime = T0, history: SendHistory | None = None) -> Challenge:
    """A login challenge for WA issued at `now` with a known code."""
    challenge, _ = issue(KEY, purpose="login", contact=WA, now=now, history=history or SendHistory(), code=code)
    return challenge


def history(*offsets: float, failures: int = 0) -> SendHistory:
    """A send history with sends at the given seconds after T0."""
    return SendHistory(tuple(at(seconds=s) for s in offsets), failures)


class FixedRandom:
    """A randomness source that always answers the same number, to pin formatting."""

    def __init__(self, value: int) -> None:
        self.value = value

    def randbelow(self, exclusive_upper_bound: int, /) -> int:
        """The fixed value, checked to be in range."""
        assert 0 <= self.value < exclusive_upper_bound
        return self.value


# --- codes and digests -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [(0, "000000"), (42, "000042"), (999_999, "999999"), (123_456, "123456")]
)
def test_generate_code_keeps_leading_zeros(value: int, expected: str) -> None:
    """A drawn number becomes exactly six digits, zero-padded."""
    assert generate_code(FixedRandom(value)) == expected


def test_generate_code_uses_secrets_by_default() -> None:
    """Default codes are six ASCII digits and vary between draws."""
    codes = {generate_code() for _ in range(200)}
    assert all(re.fullmatch(r"[0-9]{6}", c) for c in codes)
    assert len(codes) > 150


@pytest.mark.parametrize(
    ("changed", "why"),
    [
        ({"purpose": "signup"}, "another purpose"),
        ({"contact": "15557654321"}, "another number"),
        ({"code": OTHER}, "another code"),
        ({"secret_key": "other-key"}, "another key"),
        ({"purpose": 'login","15551234567'}, "a purpose crafted to shift fields"),
        ({"purpose": "login1", "contact": "5551234567"}, "a digit moved from contact to purpose"),
    ],
)
def test_digest_binds_key_purpose_contact_and_code(changed: dict[str, str], why: str) -> None:
    """Changing any input of the digest changes it, so a stored hash is useless elsewhere."""
    base = {"secret_key": KEY, "purpose": "login", "contact": WA, "code": CODE}
    args = base | changed
    assert code_digest(args.pop("secret_key"), **args) != code_digest(base.pop("secret_key"), **base), why


def test_digest_is_stable_hex_sha256() -> None:
    """The same inputs give the same 64-hex-digit digest, and it does not contain the code."""
    one = code_digest(KEY, purpose="login", contact=WA, code=CODE)
    assert one == code_digest(KEY, purpose="login", contact=WA, code=CODE)
    assert re.fullmatch(r"[0-9a-f]{64}", one)
    assert CODE not in one


def test_digest_known_answer() -> None:
    """The digest is HMAC-SHA256 under the key of the compact JSON ["otp-v1",purpose,contact,code], in hex.

    Stored digests outlive a release: changing how the message is built would make every live code fail. The
    expected value was computed apart from this code: printf '%s' '["otp-v1","login","15551234567","042917"]'
    | openssl dgst -sha256 -hmac test-secret-key
    """
    expected = "b8033bdb0daa402a5358c310ffe28a8e3a8c41a4b70c05bc53cc8cc542228921"
    assert code_digest(KEY, purpose="login", contact=WA, code=CODE) == expected


def test_digest_needs_a_key() -> None:
    """An empty secret key is refused rather than producing an unkeyed hash."""
    with pytest.raises(ValueError, match=r"^a secret key is required to digest one-time codes$"):
        code_digest("", purpose="login", contact=WA, code=CODE)


# --- issuing ----------------------------------------------------------------------------------------------


def test_issue_stores_only_a_digest_for_ten_minutes() -> None:
    """A new challenge holds the digest, lives ten minutes, and the code comes back wrapped."""
    challenge, code = issue(KEY, purpose="login", contact=WA, now=T0, history=SendHistory(), code=CODE)
    assert code.reveal() == CODE
    assert challenge.digest == code_digest(KEY, purpose="login", contact=WA, code=CODE)
    assert (challenge.created_at, challenge.expires_at) == (T0, T0 + CODE_LIFE)
    assert (challenge.attempts, challenge.used_at) == (0, None)


def test_issue_draws_a_fresh_code_without_one_given() -> None:
    """Without a test code, issue draws one that verifies against its own challenge."""
    challenge, code = issue(KEY, purpose="login", contact=WA, now=T0, history=SendHistory())
    assert re.fullmatch(r"[0-9]{6}", code.reveal())
    assert verify(challenge, KEY, code=code.reveal(), now=at(1)).verified


@pytest.mark.parametrize(
    ("purpose", "contact"),
    [("", WA), ("Login", WA), ("log in", WA), ("x" * 65, WA), ("login", ""), ("login", "1555\n1234")],
)
def test_issue_rejects_bad_purpose_or_contact(purpose: str, contact: str) -> None:
    """A purpose outside the slug alphabet or an empty/unprintable contact is a caller's mistake, said plainly."""
    with pytest.raises(ValidationError) as caught:
        issue(KEY, purpose=purpose, contact=contact, now=T0, history=SendHistory(), code=CODE)
    assert caught.value.message in (
        f"purpose {purpose!r} must be 1-64 characters of a-z, 0-9, '_', '.', '-'",
        "contact must be 1-128 printable characters",
    )


def test_purpose_and_contact_lengths_end_at_64_and_128() -> None:
    """A 64-character purpose and a 128-character contact are taken; one more character is refused."""
    issue(KEY, purpose="p" * 64, contact="1" * 128, now=T0, history=SendHistory(), code=CODE)
    with pytest.raises(ValidationError, match=r"^contact must be 1-128 printable characters$"):
        issue(KEY, purpose="login", contact="1" * 129, now=T0, history=SendHistory(), code=CODE)


@pytest.mark.parametrize("bad", ["12345", "1234567", "12345a", "١٢٣٤٥٦", ""])
def test_issue_rejects_malformed_test_codes_without_echoing_them(bad: str) -> None:
    """A given code that is not six ASCII digits is refused, and the message never repeats it."""
    with pytest.raises(ValueError, match="6 ASCII digits") as caught:
        issue(KEY, purpose="login", contact=WA, now=T0, history=SendHistory(), code=bad)
    assert not bad or bad not in str(caught.value)


# --- verifying --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "when", "verified", "outcome", "attempts"),
    [
        (CODE, at(0), True, "verified", 0),
        (CODE, at(9, 59), True, "verified", 0),
        (CODE, at(9, 59.999999), True, "verified", 0),
        (CODE, at(10), False, "expired", 0),
        (CODE, at(60), False, "expired", 0),
        (OTHER, at(1), False, "wrong", 1),
        (OTHER, at(10), False, "expired", 0),
        ("042 917", at(1), True, "verified", 0),
        (" 042917\n", at(1), True, "verified", 0),
        ("42917", at(1), False, "wrong", 1),
        ("not a code", at(1), False, "wrong", 1),
        ("", at(1), False, "wrong", 1),
    ],
)
def test_verify_one_attempt(typed: str, when: datetime, verified: bool, outcome: str, attempts: int) -> None:
    """One attempt on a fresh code: right within 10 minutes verifies, wrong costs a try, late expires."""
    result = verify(new(), KEY, code=typed, now=when)
    assert (result.verified, result.outcome) == (verified, outcome)
    assert result.challenge is not None
    assert result.challenge.attempts == attempts
    assert result.challenge.used_at == (when if verified else None)


def test_verify_is_single_use() -> None:
    """A code that verified once never verifies again."""
    first = verify(new(), KEY, code=CODE, now=at(1))
    assert first.verified
    second = verify(first.challenge, KEY, code=CODE, now=at(2))
    assert (second.verified, second.outcome) == (False, "used")
    assert second.challenge == first.challenge


def test_five_wrong_tries_end_the_code() -> None:
    """After five wrong tries even the right code fails, and further tries change nothing."""
    challenge: Challenge | None = new()
    for n in range(1, MAX_FAILURES + 1):
        result = verify(challenge, KEY, code=OTHER, now=at(seconds=n))
        assert (result.verified, result.outcome) == (False, "wrong")
        challenge = result.challenge
        assert challenge is not None
        assert challenge.attempts == n
    assert challenge is not None
    assert challenge.exhausted()
    right = verify(challenge, KEY, code=CODE, now=at(1))
    assert (right.verified, right.outcome, right.challenge) == (False, "exhausted", challenge)


def test_four_wrong_tries_then_right_verifies() -> None:
    """The fifth try is still a real try: four misses then the right code succeeds."""
    challenge = replace(new(), attempts=MAX_FAILURES - 1)
    assert verify(challenge, KEY, code=CODE, now=at(1)).verified


def test_no_challenge_is_not_verified_and_looks_like_a_wrong_code() -> None:
    """Verifying against nothing answers not-verified, with nothing to store."""
    result = verify(None, KEY, code=CODE, now=T0)
    assert result == VerifyResult(False, None, "absent")


def test_no_challenge_takes_the_same_digest_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """An absent challenge still computes a digest and a constant-time comparison, like a wrong code."""
    calls: list[str] = []
    real_compare = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append("compare")
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    verify(None, KEY, code=CODE, now=T0)
    verify(new(), KEY, code=OTHER, now=T0)
    verify(replace(new(), attempts=MAX_FAILURES), KEY, code=CODE, now=T0)
    assert calls == ["compare", "compare", "compare"]


def test_digest_of_another_contact_does_not_verify() -> None:
    """A challenge whose row was copied to another number does not accept the code."""
    moved = replace(new(), contact="15557654321")
    assert not verify(moved, KEY, code=CODE, now=at(1)).verified


def test_another_key_does_not_verify() -> None:
    """A code checked with a different service key fails."""
    assert not verify(new(), "other-key", code=CODE, now=at(1)).verified


# --- pacing sends -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sends", "failures", "now", "expected"),
    [
        ((), 0, at(0), SendDecision(True)),
        ((0,), 0, at(seconds=29), SendDecision(False, "too_soon", at(seconds=30))),
        ((0,), 0, at(seconds=30), SendDecision(True)),
        ((0, 30, 60, 90), 0, at(seconds=120), SendDecision(True)),
        ((0, 30, 60, 90, 120), 0, at(seconds=150), SendDecision(False, "too_many", at(10))),
        ((0, 30, 60, 90, 120), 0, at(9, 59), SendDecision(False, "too_many", at(10))),
        ((0, 30, 60, 90, 120), 0, at(10), SendDecision(True)),
        ((0, 30, 60, 90, 120), 0, at(seconds=130), SendDecision(False, "too_many", at(10))),
        ((0, 30, 60, 90, 580), 0, at(seconds=590), SendDecision(False, "too_soon", at(seconds=610))),
        ((0, 180, 360, 540, 570), 0, at(seconds=580), SendDecision(False, "too_many", at(10))),
        ((-600, 0), 0, at(seconds=30), SendDecision(True)),
        ((90, 0, 60, 30, 120), 0, at(seconds=150), SendDecision(False, "too_many", at(10))),
        ((0, 30, 60, 90, 120, 150), 0, at(seconds=180), SendDecision(False, "too_many", at(seconds=630))),
        ((0,), MAX_FAILURES, at(1), SendDecision(False, "locked", at(10))),
        ((0,), MAX_FAILURES, at(10), SendDecision(True)),
        ((0,), MAX_FAILURES - 1, at(1), SendDecision(True)),
        ((), MAX_FAILURES, at(0), SendDecision(True)),
    ],
)
def test_may_send(sends: tuple[float, ...], failures: int, now: datetime, expected: SendDecision) -> None:
    """30 s between sends, 5 per rolling 10 minutes, none while the budget is spent; the latest retry, graver reason."""
    assert may_send(history(*sends, failures=failures), now) == expected


@pytest.mark.parametrize(
    ("decision", "now", "seconds"),
    [
        (SendDecision(True), T0, 0),
        (SendDecision(False, "too_soon", at(seconds=30)), at(seconds=10), 20),
        (SendDecision(False, "too_soon", at(seconds=30)), at(seconds=10.2), 20),
        (SendDecision(False, "too_many", at(10)), at(11), 0),
    ],
)
def test_retry_after_rounds_up(decision: SendDecision, now: datetime, seconds: int) -> None:
    """The wait in whole seconds is rounded up and never negative."""
    assert decision.retry_after(now) == seconds


def test_issue_enforces_pacing() -> None:
    """Issuing too soon raises OTPRefused, a PolicyError carrying the reason and retry time."""
    with pytest.raises(OTPRefused) as caught:
        new(now=at(seconds=10), history=history(0))
    assert isinstance(caught.value, PolicyError)
    assert (caught.value.reason, caught.value.retry_at) == ("too_soon", at(seconds=30))
    assert caught.value.message == f"one-time code refused: too_soon, retry at {at(seconds=30).isoformat()}"


def test_failures_carry_across_resends() -> None:
    """A resend inside the window starts with the earlier code's wrong tries, so the budget is shared."""
    first = new()
    for n in range(3):
        result = verify(first, KEY, code=OTHER, now=at(seconds=n))
        assert result.challenge is not None
        first = result.challenge
    resent = new(OTHER, now=at(1), history=SendHistory.from_challenges([first]))
    assert resent.attempts == 3
    for n in range(2):
        result = verify(resent, KEY, code=CODE, now=at(2, n))
        assert result.challenge is not None
        resent = result.challenge
    assert resent.exhausted()
    assert verify(resent, KEY, code=OTHER, now=at(3)).outcome == "exhausted"
    locked = SendHistory.from_challenges([first, resent])
    assert may_send(locked, at(3)) == SendDecision(False, "locked", at(11))


def test_failures_are_forgotten_once_the_window_is_empty() -> None:
    """Ten minutes after the last send a new code gets the full budget again."""
    spent = replace(new(), attempts=MAX_FAILURES)
    hist = SendHistory.from_challenges([spent])
    assert carried_failures(hist, at(9, 59)) == MAX_FAILURES
    assert carried_failures(hist, at(10)) == 0
    assert new(now=at(10), history=hist).attempts == 0


def test_a_verified_code_clears_the_failure_count() -> None:
    """After the owner verifies, the next code in the window starts with no failures."""
    challenge = replace(new(), attempts=2)
    done = verify(challenge, KEY, code=CODE, now=at(1)).challenge
    assert done is not None
    assert SendHistory.from_challenges([done]) == SendHistory((T0,), 0)
    assert new(now=at(1), history=SendHistory.from_challenges([done])).attempts == 0


def test_history_from_no_challenges_is_empty() -> None:
    """A number never sent a code has an empty history and may be sent one."""
    assert SendHistory.from_challenges([]) == SendHistory()
    assert may_send(SendHistory(), T0).allowed


def test_five_sends_then_refused_on_the_virtual_clock() -> None:
    """Resending every 30 s allows five codes, refuses the sixth, and frees up ten minutes after the first."""
    issued: list[Challenge] = []
    now = T0
    for _ in range(5):
        issued.append(new(now=now, history=SendHistory.from_challenges(issued)))
        now += timedelta(seconds=30)
    with pytest.raises(OTPRefused) as caught:
        new(now=now, history=SendHistory.from_challenges(issued))
    assert (caught.value.reason, caught.value.retry_at) == ("too_many", at(10))
    assert new(now=at(10), history=SendHistory.from_challenges(issued)).created_at == at(10)


# --- Meta's template numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("life", "minutes", "ttl"),
    [
        (CODE_LIFE, 10, 600),
        (timedelta(minutes=1), 1, 60),
        (timedelta(minutes=4, seconds=59), 4, 299),
        (timedelta(minutes=15), 15, 900),
        (timedelta(hours=2), 90, 900),
    ],
)
def test_template_numbers_never_outlive_the_code(life: timedelta, minutes: int, ttl: int) -> None:
    """The footer's minutes and the delivery TTL stay within Meta's ranges and within the code's life."""
    assert template_expiration_minutes(life) == minutes
    assert template_ttl_seconds(life) == ttl
    assert timedelta(minutes=minutes) <= life
    assert timedelta(seconds=ttl) <= life


def test_template_numbers_default_to_the_code_life() -> None:
    """With no argument the helpers describe the ten-minute code."""
    assert (template_expiration_minutes(), template_ttl_seconds()) == (10, 600)


def test_the_shortest_ttl_meta_takes_is_30_seconds() -> None:
    """A code living exactly 30 s has a 30 s delivery TTL, Meta's minimum."""
    assert template_ttl_seconds(timedelta(seconds=30)) == 30


def test_template_numbers_refuse_too_short_a_life() -> None:
    """A code shorter than Meta's minimums (1 minute, 30 s) cannot be described truthfully, so it is an error."""
    with pytest.raises(ValueError, match="1-minute"):
        template_expiration_minutes(timedelta(seconds=59))
    with pytest.raises(ValueError, match="30-second"):
        template_ttl_seconds(timedelta(seconds=29))


# --- time must be aware -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: may_send(SendHistory(), NAIVE), "now"),
        (lambda: issue(KEY, purpose="login", contact=WA, now=NAIVE, history=SendHistory(), code=CODE), "now"),
        (lambda: verify(None, KEY, code=CODE, now=NAIVE), "now"),
        (lambda: verify(new(), KEY, code=CODE, now=NAIVE), "now"),
        (lambda: SendHistory((T0, NAIVE)), "sent_at"),
        (lambda: carried_failures(SendHistory(), NAIVE), "now"),
        (lambda: SendDecision(True).retry_after(NAIVE), "now"),
        (lambda: SendDecision(False, "too_soon", NAIVE), "retry_at"),
        (lambda: Challenge("login", WA, "0" * 64, NAIVE, T0 + CODE_LIFE), "created_at"),
        (lambda: Challenge("login", WA, "0" * 64, T0, NAIVE), "expires_at"),
        (lambda: Challenge("login", WA, "0" * 64, T0, T0 + CODE_LIFE, used_at=NAIVE), "used_at"),
    ],
    ids=[
        "may_send", "issue", "verify-none", "verify", "history", "carried", "retry_after", "decision-retry_at",
        "challenge-created_at", "challenge-expires_at", "challenge-used_at",
    ],
)  # fmt: skip
def test_naive_datetimes_are_rejected(call: Callable[[], object], name: str) -> None:
    """Every entry point refuses a naive datetime with ValueError naming the argument."""
    with pytest.raises(ValueError, match="timezone-aware") as caught:
        call()
    assert str(caught.value) == f"{name} must be a timezone-aware UTC datetime, got naive {NAIVE.isoformat()}"


class NoOffset(tzinfo):
    """A time zone that does not know its offset: Python counts a datetime in it as naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None


def test_a_zone_without_an_offset_counts_as_naive() -> None:
    """A datetime whose tzinfo gives no UTC offset is naive by Python's definition, and refused like one."""
    with pytest.raises(ValueError, match=r"^now must be a timezone-aware"):
        may_send(SendHistory(), NAIVE.replace(tzinfo=NoOffset()))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"expires_at": T0}, "a challenge must expire after it is created"),
        ({"attempts": -1}, "attempts cannot be negative"),
    ],
)
def test_challenge_rejects_impossible_rows(kwargs: dict[str, object], message: str) -> None:
    """A challenge that expires before it starts or has negative attempts cannot be built."""
    fields: dict[str, object] = {
        "purpose": "login",
        "contact": WA,
        "digest": "0" * 64,
        "created_at": T0,
        "expires_at": T0 + CODE_LIFE,
    }
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Challenge(**(fields | kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("allowed", "reason", "retry_at"),
    [(True, "too_soon", None), (True, None, T0), (False, None, T0), (False, "too_many", None)],
)
def test_send_decision_rejects_inconsistent_fields(
    allowed: bool, reason: SendReason | None, retry_at: datetime | None
) -> None:
    """A refusal always has a reason and a retry time, and an allowance has neither."""
    with pytest.raises(ValueError, match=r"^a refusal needs a reason and a retry time; an allowance has neither$"):
        SendDecision(allowed, reason, retry_at)


def test_history_rejects_negative_failures() -> None:
    """A history cannot carry a negative failure count."""
    with pytest.raises(ValueError, match=r"^failures cannot be negative$"):
        SendHistory((), -1)


# --- the code never shows -----------------------------------------------------------------------------------


def _everything_around_one_code(code: str) -> list[object]:
    """Every object and error the module returns or raises while one code is issued, used and refused."""
    hist = SendHistory()
    challenge, secret = issue(KEY, purpose="login", contact=WA, now=T0, history=hist, code=code)
    objects: list[object] = [challenge, secret, (challenge, secret), hist, may_send(hist, T0)]
    wrong = verify(challenge, KEY, code=f"{(int(code) + 1) % 1_000_000:06d}", now=at(1))
    right = verify(challenge, KEY, code=code, now=at(2))
    objects += [wrong, right, verify(right.challenge, KEY, code=code, now=at(3)), verify(None, KEY, code=code, now=T0)]
    objects.append(SendHistory.from_challenges([challenge]))
    try:
        issue(KEY, purpose="login", contact=WA, now=at(seconds=1), history=history(0), code=code)
    except OTPRefused as error:
        objects += [error, error.args, error.message]
    for bad in (code + "0", code[:-1] + "x"):
        try:
            OneTimeCode(bad)
        except ValueError as error:
            objects += [error, error.args]
    return objects


@given(st.integers(min_value=0, max_value=999_999))
def test_no_code_in_any_repr_or_str(number: int) -> None:
    """No returned object or raised error shows the code in its repr, str or format."""
    code = f"{number:06d}"
    for obj in _everything_around_one_code(code):
        for text in (repr(obj), str(obj), f"{obj}", f"{obj!r}"):
            assert code not in text.replace(WA, "<contact>"), text


def test_a_code_shows_as_six_stars() -> None:
    """A code's repr and str are the same fixed mask, whatever its digits."""
    assert repr(OneTimeCode(CODE)) == str(OneTimeCode(OTHER)) == "OneTimeCode('******')"


def test_one_time_code_cannot_be_pickled_or_copied() -> None:
    """The wrapped code refuses pickling and copying, so it cannot slip into a stored payload by accident."""
    secret = OneTimeCode(CODE)
    refusal = r"^a one-time code is not to be pickled or copied into storage$"
    with pytest.raises(TypeError, match=refusal):
        pickle.dumps(secret)
    with pytest.raises(TypeError, match=refusal):
        copy.copy(secret)


def test_refusal_is_a_bot_error_with_a_code() -> None:
    """OTPRefused sits in the error tree with its own machine-readable code."""
    assert issubclass(OTPRefused, BotError)
    assert OTPRefused.code == "otp_refused"


# --- the property ---------------------------------------------------------------------------------------------

CODES = st.integers(min_value=0, max_value=999_999).map(lambda n: f"{n:06d}")


def _wrong(code: str) -> str:
    """A six-digit code that is not `code`."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


@given(code=CODES, tries=st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=120)), max_size=30))
def test_one_code_verifies_at_most_once_and_never_after_five_misses(code: str, tries: list[tuple[bool, int]]) -> None:
    """For any sequence of right and wrong attempts on one code, at most one succeeds, never after 5 misses."""
    challenge: Challenge | None = new(code)
    now, successes, misses = T0, 0, 0
    for right, step in tries:
        now += timedelta(seconds=step)
        result = verify(challenge, KEY, code=code if right else _wrong(code), now=now)
        if result.verified:
            successes += 1
            assert misses < MAX_FAILURES
            assert now < T0 + CODE_LIFE
        elif result.outcome == "wrong":
            misses += 1
        challenge = result.challenge
    assert successes <= 1
    assert misses <= MAX_FAILURES


@given(
    code=CODES,
    steps=st.lists(
        st.tuples(st.sampled_from(["right", "wrong", "resend"]), st.integers(min_value=0, max_value=400)),
        max_size=40,
    ),
)
def test_resends_never_refill_the_budget_inside_the_window(code: str, steps: list[tuple[str, int]]) -> None:
    """Across resends, each code verifies at most once, and no code verifies after 5 misses carried in the window.

    The model: misses add up across codes; they reset only when a code is issued with no send in the
    previous ten minutes, or after a success.
    """
    issued = [new(code)]
    now, misses = T0, 0
    for action, step in steps:
        now += timedelta(seconds=step)
        if action == "resend":
            hist = SendHistory.from_challenges(issued)
            if not may_send(hist, now).allowed:
                continue
            if all(now - c.created_at >= timedelta(minutes=10) for c in issued) or issued[-1].used_at is not None:
                misses = 0
            issued.append(new(code, now=now, history=hist))
            assert issued[-1].attempts == misses
            continue
        result = verify(issued[-1], KEY, code=code if action == "right" else _wrong(code), now=now)
        assert result.challenge is not None
        was_used = issued[-1].used_at is not None
        issued[-1] = result.challenge
        if result.verified:
            assert not was_used
            assert misses < MAX_FAILURES
            misses = 0
        elif result.outcome == "wrong":
            misses += 1
        assert misses <= MAX_FAILURES
    assert len(issued) <= 1 + len(steps)
