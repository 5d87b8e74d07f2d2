"""Phone numbers through libphonenumber: canonical E.164, and Brazil's ninth digit for matching."""

import pytest

from shared.domain.phone import same_whatsapp_number, to_e164, whatsapp_number_variants


@pytest.mark.parametrize("raw", ["5511987654321", "+55 (11) 98765-4321", "5511987654321@s.whatsapp.net",
                                 "5511987654321:12@s.whatsapp.net", "whatsapp:+5511987654321"])
def test_every_provider_spelling_of_a_number_becomes_one_e164(raw: str):
    assert to_e164(raw) == "+5511987654321"


@pytest.mark.parametrize("raw", ["123", "+999 1234 5678", "whatsapp:", "0000000000000000"])
def test_what_no_country_uses_is_not_a_phone_number(raw: str):
    # +999 is no country calling code: digit counting alone accepted it.
    with pytest.raises(ValueError):
        to_e164(raw)


@pytest.mark.parametrize(("nine", "eight"), [
    ("+5511987654321", "+551187654321"),  # São Paulo
    ("+5521998765432", "+552198765432"),  # Rio de Janeiro
    ("+5585988887777", "+558588887777"),  # Fortaleza
    ("+5561996543210", "+556196543210"),  # Brasília
])
def test_a_brazilian_mobile_matches_with_and_without_the_ninth_digit(nine: str, eight: str):
    assert whatsapp_number_variants(nine) == {nine, eight}
    assert whatsapp_number_variants(eight) == {nine, eight}
    assert same_whatsapp_number(f"{eight[1:]}@s.whatsapp.net", nine)
    assert same_whatsapp_number(f"whatsapp:{nine}", eight[1:])


@pytest.mark.parametrize(("landline", "mobile"), [
    ("+551134567890", "+5511934567890"),  # a São Paulo landline and a (different) mobile
    ("+552125553456", "+5521925553456"),
])
def test_a_landline_never_matches_the_mobile_with_a_nine_in_front(landline: str, mobile: str):
    assert whatsapp_number_variants(landline) == {landline}
    assert not same_whatsapp_number(landline, mobile)


def test_other_countries_and_garbage_are_left_alone():
    assert whatsapp_number_variants("+14155238886") == {"+14155238886"}
    assert whatsapp_number_variants("+351912345678") == {"+351912345678"}
    assert not same_whatsapp_number("not a number", "+5511987654321")
