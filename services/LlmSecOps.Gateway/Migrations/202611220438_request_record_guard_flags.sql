-- Input-guard findings of a request (issue 4, point 9): machine reasons such as 'prompt_injection:override_instructions',
-- 'pii:credit_card', 'secret:llmsecops_key', comma-separated; NULL when nothing fired. Never prompt text. Under the
-- guard policy 'flag' the request was forwarded and this column is where the flag is recorded (the request event's
-- fields are fixed by ARCHITECTURE.md); under 'block' the row's outcome is 'guard_blocked' and this says why.
ALTER TABLE request_records ADD COLUMN guard_flags text NULL;
