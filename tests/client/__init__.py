"""The client's scenarios: first payments, autopayments, money back, saving cards, receipts."""
