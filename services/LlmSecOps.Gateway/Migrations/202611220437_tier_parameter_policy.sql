-- Per-tier bounds on request parameters that can exhaust a GPU or escape policy (issue 4, points 4 and 5).
-- Defaults are the fail-closed ones of LlmSecOps.Inference's TierParameterPolicy: features that bypass the model's
-- template or the hardware plan are off; sizes are modest. Existing tiers (the out-of-the-box `default` included)
-- take these defaults.

ALTER TABLE tiers
    ADD COLUMN max_tokens_over_cap      text    NOT NULL DEFAULT 'clamp' CHECK (max_tokens_over_cap IN ('clamp', 'reject')),
    ADD COLUMN max_n                    integer NOT NULL DEFAULT 4       CHECK (max_n BETWEEN 1 AND 128),
    ADD COLUMN max_keep_alive_seconds   integer NOT NULL DEFAULT 1800    CHECK (max_keep_alive_seconds BETWEEN 0 AND 604800),
    ADD COLUMN max_num_ctx              integer NOT NULL DEFAULT 8192    CHECK (max_num_ctx BETWEEN 1 AND 2097152),
    ADD COLUMN allow_hardware_options   boolean NOT NULL DEFAULT false,
    ADD COLUMN allow_raw                boolean NOT NULL DEFAULT false,
    ADD COLUMN allow_template_override  boolean NOT NULL DEFAULT false,
    ADD COLUMN allow_system_override    boolean NOT NULL DEFAULT true,
    ADD COLUMN max_images               integer NOT NULL DEFAULT 4       CHECK (max_images BETWEEN 0 AND 100),
    ADD COLUMN max_image_bytes          bigint  NOT NULL DEFAULT 5242880 CHECK (max_image_bytes BETWEEN 0 AND 104857600),
    ADD COLUMN allow_remote_image_urls  boolean NOT NULL DEFAULT false,
    ADD COLUMN allow_logprobs           boolean NOT NULL DEFAULT true,
    ADD COLUMN max_top_logprobs         integer NOT NULL DEFAULT 5       CHECK (max_top_logprobs BETWEEN 0 AND 20),
    ADD COLUMN allow_logit_bias         boolean NOT NULL DEFAULT false,
    ADD COLUMN max_logit_bias_entries   integer NOT NULL DEFAULT 300     CHECK (max_logit_bias_entries BETWEEN 0 AND 1000);
