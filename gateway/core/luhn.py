"""The Luhn checksum of card numbers: the ground's, so that log redaction
(gateway.core.logging) and card validation (payments.cards) share one."""


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0
