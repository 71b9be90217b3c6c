"""Red-team reproducers for issue 13 (CA rollover), branch attack-13. Each test FAILS on the code it was
written against and describes the attack in its docstring; public data and a network position only."""
from scepca import pem_to_der
from test_daemon import make_next_ca, short_ca, with_get_next_ca_cert  # noqa: F401 (fixture)
from test_rollover import offering_next_ca, rollover_gateway, state_lines


def test_one_forged_getcacert_does_not_move_the_pin_for_good(agent, short_ca, tmp_path):
    """Early, permanent switch from one forged GetCACert.

    Once the successor is known (state next_ca), discover() accepts it as the CA whenever a GetCACert reply
    holds it without the old pin, and the CA check then records the switch: ca_pin = successor, irreversibly.
    The successor certificate is public (it is in every GetNextCACert reply), so a network attacker answers one
    GetCACert with it alone. The server has not rolled over: it still serves and issues under the old CA, but
    the pin is now the successor, the old CA is only `previous` (never accepted as the CA), and every later
    renewal fails the pin ("fingerprint mismatch") after the attacker has gone, until the real CA switches
    (the whole overlap, which is ca_rollover long or more) or someone re-pins by hand: issue 13's "missed"
    outcome, made on demand."""
    reply, next_fingerprint = make_next_ca(tmp_path / "next", short_ca)
    successor_der = pem_to_der((tmp_path / "next" / "next.pem").read_bytes())
    with offering_next_ca(short_ca, reply) as proxy:
        gateway = rollover_gateway(agent, short_ca, proxy)
        first = agent.run("renew-now", "--config", gateway.config)
        assert first.returncode == 0, first.stderr
        assert state_lines(gateway)["next_ca"] == next_fingerprint, "the genuine successor is known"
        # The attacker: one GetCACert answered with the successor alone.
        proxy.overrides["GetCACert"] = (200, "application/x-x509-ca-cert", successor_der)
        agent.run("renew-now", "--config", gateway.config)
        del proxy.overrides["GetCACert"]
        # The attacker is gone; the server never rolled over.
        after = agent.run("renew-now", "--config", gateway.config)
    state = state_lines(gateway)
    assert (after.returncode, state.get("ca_pin", short_ca.ca_fingerprint_sha256)) == (0, short_ca.ca_fingerprint_sha256), \
        "the pin moved to the successor on a GetCACert reply alone and renewals keep failing: " + after.stderr
