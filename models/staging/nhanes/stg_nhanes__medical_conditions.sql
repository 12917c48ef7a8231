-- One row per row of the NHANES medical conditions table, typed as every
-- wide survey table is (see the macro stg_nhanes_survey_table).

{{ stg_nhanes_survey_table('nhanes_medical_conditions') }}
