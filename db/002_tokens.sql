-- 002: tokenizers and token ids per document (owned by the tokenizer work).
SELECT 1;
