"""The transports: SOAP, REST and T-Bank on the wire, their replies, codecs, profiles and HTTP session."""
