import unittest

from meridian_client import Credential, resource, sign
from meridian_client.signing import ACCESS_KEY, NONCE, RESOURCE, SIGNATURE, TIME


class Signing(unittest.TestCase):
    def test_the_vector_the_server_checks(self):
        # api/src/auth/signed.rs checks the same vector.
        self.assertEqual(
            sign("secret", 1765100000000, "0123456789abcdef", "/meridian.v1.ObjectService/Put",
                 "/juno/raw/run1.h5", "MKEXAMPLE"),
            "603aaa02d48e574e6ab07602c58d0361b4ae7c989e3cacfa338fa9abc5db9f39")

    def test_a_resource_is_percent_encoded_as_the_server_encodes_it(self):
        self.assertEqual(resource(), "/")
        self.assertEqual(resource("juno"), "/juno")
        self.assertEqual(resource("juno", "raw/run 1.h5"), "/juno/raw/run%201.h5")
        self.assertEqual(resource("juno", "数据/a+b"), "/juno/%E6%95%B0%E6%8D%AE/a%2Bb")
        self.assertEqual(resource("b", "Az09-_.~"), "/b/Az09-_.~")

    def test_each_call_is_signed_over_its_method_resource_and_a_fresh_nonce(self):
        c = Credential("AK", "SK", clock=lambda: 1000)
        md = dict(c.metadata("/meridian.v1.ObjectService/Stat", [(RESOURCE, "/b/k")]))
        self.assertEqual((md[ACCESS_KEY], md[TIME], md[RESOURCE]), ("AK", "1000", "/b/k"))
        self.assertEqual(md[SIGNATURE], sign("SK", 1000, md[NONCE],
                                             "/meridian.v1.ObjectService/Stat", "/b/k", "AK"))
        again = dict(c.metadata("/meridian.v1.ObjectService/Stat", [(RESOURCE, "/b/k")]))
        self.assertNotEqual(md[NONCE], again[NONCE])
        self.assertTrue(16 <= len(md[NONCE]) <= 64)
        # No resource named: the call acts on "/".
        md = dict(c.metadata("/meridian.v1.ObjectService/ListBuckets"))
        self.assertEqual(md[RESOURCE], "/")

    def test_a_token_is_sent_as_bearer_and_never_shown(self):
        c = Credential(token="eyJ.secret.part")
        md = dict(c.metadata("/meridian.v1.ObjectService/Get", [(RESOURCE, "/b/k")]))
        self.assertEqual(md["authorization"], "Bearer eyJ.secret.part")
        self.assertNotIn(SIGNATURE, md)
        self.assertNotIn("secret", repr(c))
        self.assertNotIn("SK", repr(Credential("AK", "SK")))
        with self.assertRaises(ValueError):
            Credential("AK", None)


if __name__ == "__main__":
    unittest.main()
