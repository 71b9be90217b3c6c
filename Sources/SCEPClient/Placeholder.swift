import DER
