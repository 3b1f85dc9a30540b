-- 00017 — reserved for another branch's migration (postgres-migrations needs consecutive ids).
-- This placeholder only lets branch s2-outputs migrate on its own: drop it when the real 00017 lands.
select 1;
