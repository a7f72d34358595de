"""Domain vocabularies: the names, units and narrative a generated task wears.

Each `Domain` is data: numeric columns with a unit and a plausible scale, categorical columns
with their levels, target names for every target kind, class and label names, words for
text columns and subjects for images and audio. Amplification (`sandmle.synth.amplify`)
draws from one domain to dress a seed's DNA. Numeric entries are written compactly as
"name unit mean sd decimals" (a trailing "+" keeps values non-negative).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NumericColumn:
    name: str
    unit: str
    mean: float
    sd: float
    decimals: int
    non_negative: bool


@dataclass(frozen=True)
class CategoricalColumn:
    name: str
    levels: tuple[str, ...]


@dataclass(frozen=True)
class Target:
    name: str
    description: str            # "whether ...", "the ..." (a noun phrase for the narrative)
    unit: str = ""
    mean: float = 0.0           # regression targets: plausible scale
    sd: float = 1.0


@dataclass(frozen=True)
class Domain:
    name: str
    title: str                  # "Healthcare"
    organisation: str           # who owns the data in the narrative
    entity: str                 # what one row is
    id_column: str
    group_column: str           # grouped rows: the shared entity
    datetime_columns: tuple[str, ...]
    numeric: tuple[NumericColumn, ...]
    categorical: tuple[CategoricalColumn, ...]
    binary_targets: tuple[Target, ...]
    class_targets: tuple[Target, ...]       # multiclass, ordinal, ranking
    class_names: tuple[str, ...]            # >= 12 names for classes and ranked items
    regression_targets: tuple[Target, ...]
    label_names: tuple[str, ...]            # >= 6 names for multi-label columns
    text_column: str
    text_source: str                        # what the text is ("clinician notes")
    words: tuple[str, ...]                  # >= 60 domain words for text
    image_subject: str
    audio_subject: str


def _num(spec: str) -> NumericColumn:
    parts = spec.split()
    name, unit, mean, sd, decimals = parts[:5]
    return NumericColumn(name, unit.replace("_", " ") if unit != "-" else "", float(mean), float(sd),
                         int(decimals), len(parts) > 5 and parts[5] == "+")


def _cat(spec: str) -> CategoricalColumn:
    name, levels = spec.split(":")
    return CategoricalColumn(name, tuple(levels.split()))


def _domain(**kw) -> Domain:
    kw["numeric"] = tuple(_num(s) for s in kw["numeric"])
    kw["categorical"] = tuple(_cat(s) for s in kw["categorical"])
    for key in ("class_names", "label_names", "words", "datetime_columns"):
        if isinstance(kw[key], str):
            kw[key] = tuple(kw[key].split())
    for key in ("binary_targets", "class_targets", "regression_targets"):
        kw[key] = tuple(Target(*t) for t in kw[key])
    return Domain(**kw)


DOMAINS: dict[str, Domain] = {d.name: d for d in (
    _domain(
        name="healthcare", title="Healthcare", organisation="a regional hospital network",
        entity="patient visit", id_column="visit_id", group_column="clinic_id",
        datetime_columns="admitted_at",
        numeric=["age_years years 54 17 0 +", "systolic_bp_mmhg mmHg 128 18 0 +", "heart_rate_bpm bpm 78 13 0 +",
                 "bmi_kg_m2 kg/m2 27 5 1 +", "glucose_mg_dl mg/dL 105 28 0 +", "creatinine_mg_dl mg/dL 1.0 0.3 2 +",
                 "cholesterol_mg_dl mg/dL 195 38 0 +", "oxygen_saturation_pct % 96 2.5 1 +", "temperature_c °C 36.9 0.6 1",
                 "hemoglobin_g_dl g/dL 13.6 1.7 1 +", "white_cells_k_ul 10^3/uL 7.2 2.1 1 +", "length_of_history_years years 6 4 1 +",
                 "prior_visits count 3 2.5 0 +", "medications count 4 2.6 0 +", "sodium_mmol_l mmol/L 139 3.2 0 +",
                 "platelets_k_ul 10^3/uL 250 60 0 +"],
        categorical=["sex:female male", "ward:cardiology oncology neurology orthopedics pediatrics geriatrics surgery emergency",
                     "smoking_status:never former current", "insurance:public private none self_pay",
                     "blood_type:A+ A- B+ B- AB+ AB- O+ O-", "admission_type:elective urgent emergency transfer referral"],
        binary_targets=[("readmitted_30d", "whether the patient is readmitted within 30 days"),
                        ("adverse_event", "whether an adverse event is recorded during the stay")],
        class_targets=[("diagnosis_group", "the diagnosis group recorded at discharge"),
                       ("triage_level", "the triage level assigned on arrival")],
        class_names="cardiac respiratory renal hepatic neurological metabolic infectious oncologic trauma "
                    "endocrine gastrointestinal dermatologic musculoskeletal",
        regression_targets=[("length_of_stay_days", "the length of stay", "days", 5.5, 3.0),
                            ("treatment_cost_usd", "the treatment cost", "USD", 8200, 3100),
                            ("recovery_score", "the recovery score at follow-up", "points", 62, 14)],
        label_names="hypertension diabetes anemia arrhythmia obesity asthma kidney_disease depression",
        text_column="clinical_note", text_source="short clinician notes",
        words="patient reports pain chest breathing fatigue fever cough dizziness nausea swelling rash headache "
              "insomnia appetite weight medication dose tablet infusion referral scan xray bloodwork follow visit "
              "discharge ward nurse doctor stable improving worsening acute chronic mild severe history family "
              "allergy therapy rehab mobility wound dressing sutures pressure pulse oxygen monitor glucose insulin "
              "diet exercise sleep anxiety mood review consent schedule pharmacy clinic",
        image_subject="microscopy tile", audio_subject="stethoscope recording"),
    _domain(
        name="retail", title="Retail", organisation="an online and high-street retailer",
        entity="customer order", id_column="order_id", group_column="store_id",
        datetime_columns="ordered_at",
        numeric=["basket_value_usd USD 64 30 2 +", "items_in_basket count 4 2.5 0 +", "discount_pct % 12 9 1 +",
                 "customer_tenure_months months 26 18 0 +", "past_orders count 9 7 0 +", "days_since_last_order days 34 25 0 +",
                 "page_views count 18 11 0 +", "session_minutes minutes 11 7 1 +", "delivery_distance_km km 14 10 1 +",
                 "shelf_price_usd USD 22 12 2 +", "stock_level_units units 140 70 0 +", "return_rate_pct % 8 6 1 +",
                 "loyalty_points points 1200 800 0 +", "reviews_written count 2 2 0 +", "cart_abandons count 1.5 1.5 0 +",
                 "promo_emails_opened count 5 4 0 +"],
        categorical=["channel:web app store phone marketplace", "payment_method:card paypal voucher cash invoice wallet",
                     "region:north south east west central coastal islands metro",
                     "membership_tier:basic silver gold platinum", "device:desktop mobile tablet kiosk",
                     "category:grocery fashion electronics home toys beauty sports garden"],
        binary_targets=[("churned", "whether the customer stops buying within 90 days"),
                        ("returned", "whether the order is returned")],
        class_targets=[("next_category", "the category of the customer's next purchase"),
                       ("satisfaction_grade", "the satisfaction grade given in the survey")],
        class_names="groceries apparel footwear electronics furniture toys cosmetics books sports garden "
                    "kitchenware jewelry pet_supplies",
        regression_targets=[("weekly_sales_usd", "weekly sales", "USD", 5200, 1800),
                            ("order_margin_usd", "the order margin", "USD", 18, 7),
                            ("units_sold", "the units sold", "units", 120, 40)],
        label_names="bought_snacks bought_drinks bought_household bought_clothing bought_electronics "
                    "bought_personal_care bought_toys bought_books",
        text_column="review_text", text_source="customer reviews",
        words="order delivery package arrived late early damaged perfect quality price cheap expensive size fit "
              "colour fabric return refund exchange support staff helpful rude store shelf stock checkout queue "
              "discount coupon loyalty points gift wrap shipping courier tracking box product brand value recommend "
              "again never always quickly slowly broken works battery charger screen shoes jacket kitchen bottle "
              "snack fresh stale taste flavour smell",
        image_subject="product photo", audio_subject="store-floor recording"),
    _domain(
        name="manufacturing", title="Manufacturing", organisation="a precision machining plant",
        entity="production batch", id_column="batch_id", group_column="line_id",
        datetime_columns="produced_at",
        numeric=["spindle_speed_rpm rpm 3200 600 0 +", "feed_rate_mm_min mm/min 420 90 0 +", "coolant_temp_c °C 24 3 1",
                 "vibration_mm_s mm/s 3.1 1.2 2 +", "tool_wear_min minutes 110 60 0 +", "torque_nm N·m 42 9 1 +",
                 "ambient_humidity_pct % 46 10 1 +", "power_draw_kw kW 14 4 2 +", "cycle_time_s s 58 11 1 +",
                 "pressure_bar bar 6.2 0.9 2 +", "material_hardness_hb HB 210 30 0 +", "operator_experience_years years 7 5 1 +",
                 "part_thickness_mm mm 12 2.5 2 +", "oven_temp_c °C 180 14 1 +", "line_speed_m_min m/min 35 8 1 +",
                 "batch_size_units units 400 120 0 +"],
        categorical=["machine_type:lathe mill press grinder drill welder", "shift:morning afternoon night",
                     "material:steel aluminium brass titanium polymer copper", "supplier:alpha beta gamma delta epsilon zeta",
                     "maintenance_state:fresh serviced due overdue", "plant_zone:A B C D E F G H"],
        binary_targets=[("defective", "whether the batch fails final inspection"),
                        ("machine_failure", "whether the machine fails within the next shift")],
        class_targets=[("failure_mode", "the failure mode recorded by maintenance"),
                       ("quality_grade", "the quality grade at inspection")],
        class_names="none tool_wear overheating power_fault overstrain misalignment vibration leakage "
                    "sensor_fault contamination crack corrosion jam",
        regression_targets=[("yield_pct", "the yield of good parts", "%", 91, 4),
                            ("energy_kwh", "the energy used per batch", "kWh", 320, 80),
                            ("surface_roughness_um", "the surface roughness", "µm", 1.6, 0.5)],
        label_names="scratch dent crack porosity burr discoloration warp misfit",
        text_column="operator_log", text_source="operator shift logs",
        words="machine spindle tool coolant noise vibration alarm stop restart calibration sensor temperature "
              "pressure leak oil belt motor bearing gear shaft weld seam crack burr scratch dent polish inspection "
              "batch line shift operator supervisor maintenance replaced adjusted cleaned jammed overheated tripped "
              "fault normal stable unstable smooth rough slow fast manual automatic setup changeover scrap rework "
              "supplier material steel aluminium plastic",
        image_subject="surface inspection image", audio_subject="machine acoustic recording"),
    _domain(
        name="it_operations", title="IT operations", organisation="a cloud hosting provider",
        entity="service incident", id_column="incident_id", group_column="cluster_id",
        datetime_columns="opened_at",
        numeric=["cpu_util_pct % 55 18 1 +", "memory_util_pct % 62 15 1 +", "disk_io_mb_s MB/s 120 60 0 +",
                 "latency_p95_ms ms 240 110 0 +", "error_rate_pct % 1.2 1.0 2 +", "requests_per_s req/s 850 300 0 +",
                 "open_connections count 420 160 0 +", "gc_pause_ms ms 35 18 0 +", "queue_depth count 14 10 0 +",
                 "uptime_days days 41 30 0 +", "deploys_last_week count 6 4 0 +", "alerts_last_day count 5 4 0 +",
                 "network_out_mb_s MB/s 60 30 1 +", "thread_count count 180 60 0 +", "cache_hit_pct % 88 7 1 +",
                 "pods_running count 12 6 0 +"],
        categorical=["service_tier:frontend api database cache queue batch", "region:us_east us_west eu_central eu_west ap_south ap_east",
                     "os_image:ubuntu debian alpine rhel windows", "severity_reported:low medium high critical",
                     "team:payments search auth storage messaging analytics", "instance_type:small medium large xlarge gpu"],
        binary_targets=[("sla_breach", "whether the incident breaches its service-level agreement"),
                        ("escalated", "whether the incident is escalated to on-call engineers")],
        class_targets=[("root_cause", "the root cause found in the post-mortem"),
                       ("priority_level", "the priority level assigned by triage")],
        class_names="config_error capacity network_partition disk_full memory_leak bad_deploy dependency_outage "
                    "certificate_expiry dns_failure hardware_fault rate_limit data_corruption",
        regression_targets=[("resolution_minutes", "the time to resolve", "minutes", 95, 45),
                            ("affected_users", "the number of affected users", "users", 2400, 900),
                            ("cost_of_downtime_usd", "the cost of downtime", "USD", 15000, 6000)],
        label_names="needs_rollback needs_scaling needs_patch needs_restart needs_failover needs_vendor",
        text_column="ticket_text", text_source="incident ticket descriptions",
        words="server service request timeout error latency spike outage degraded restart deploy rollback config "
              "database query slow index cache miss memory leak cpu disk full network packet loss dns certificate "
              "expired login auth token failed queue backlog worker crash pod node cluster region alert pager "
              "customer ticket escalate resolved monitoring dashboard logs trace upgrade patch version load balancer "
              "firewall storage backup",
        image_subject="resource heat-map tile", audio_subject="server-room fan recording"),
    _domain(
        name="transport", title="Transport", organisation="a city mobility operator",
        entity="trip", id_column="trip_id", group_column="depot_id",
        datetime_columns="pickup_at",
        numeric=["pickup_lon deg -73.97 0.04 5", "pickup_lat deg 40.75 0.03 5", "dropoff_lon deg -73.97 0.04 5",
                 "dropoff_lat deg 40.75 0.03 5", "passenger_count count 1.6 0.9 0 +", "trip_distance_km km 4.2 3.0 2 +",
                 "vehicle_age_years years 4.5 2.8 1 +", "driver_rating stars 4.6 0.3 2 +", "traffic_index index 1.3 0.3 2 +",
                 "wait_minutes minutes 6 4 1 +", "fuel_level_pct % 58 22 0 +", "tyre_pressure_psi psi 33 2 1 +",
                 "speed_avg_kmh km/h 27 8 1 +", "stops count 3 2 0 +", "load_kg kg 480 200 0 +",
                 "rain_mm mm 1.2 2.0 1 +"],
        categorical=["vehicle_type:sedan van suv bus minibus bike scooter truck", "payment:card cash app voucher",
                     "weather:clear cloudy rain snow fog", "zone:downtown airport suburb harbour campus industrial park stadium",
                     "operator:blue green red yellow", "day_type:weekday weekend holiday"],
        binary_targets=[("late_arrival", "whether the trip arrives more than ten minutes late"),
                        ("cancelled", "whether the trip is cancelled before pickup")],
        class_targets=[("delay_cause", "the main cause of delay"), ("service_class", "the service class booked")],
        class_names="on_time congestion weather breakdown detour passenger_delay roadworks accident signal_fault "
                    "driver_change event_traffic border_check",
        regression_targets=[("fare_amount_usd", "the fare", "USD", 14, 6), ("travel_minutes", "the travel time", "minutes", 22, 9),
                            ("fuel_used_l", "the fuel used", "L", 3.2, 1.1)],
        label_names="toll_road night_trip airport_run shared_ride long_wait accessibility",
        text_column="rider_feedback", text_source="rider feedback messages",
        words="driver car bus train late early route traffic jam detour stop station platform ticket fare card "
              "app booking pickup dropoff airport luggage seat clean dirty smooth bumpy safe unsafe rude friendly "
              "quick slow waiting minutes cancelled delayed crowded empty heating air conditioning music map gps "
              "wrong turn shortcut highway bridge tunnel rain snow night morning rush hour refund receipt",
        image_subject="road camera tile", audio_subject="cabin microphone recording"),
    _domain(
        name="finance", title="Finance", organisation="a consumer lending bank",
        entity="loan application", id_column="application_id", group_column="branch_id",
        datetime_columns="applied_at",
        numeric=["annual_income_usd USD 58000 21000 0 +", "loan_amount_usd USD 14000 7000 0 +", "credit_score points 690 60 0 +",
                 "debt_to_income_pct % 28 11 1 +", "employment_years years 7 5 1 +", "open_accounts count 6 3 0 +",
                 "delinquencies_2y count 0.6 0.9 0 +", "utilization_pct % 41 22 1 +", "age_years years 41 12 0 +",
                 "interest_rate_pct % 11.5 4 2 +", "savings_usd USD 9000 7000 0 +", "monthly_payment_usd USD 420 180 2 +",
                 "card_limit_usd USD 7000 3500 0 +", "inquiries_6m count 1.4 1.3 0 +", "account_age_months months 84 50 0 +",
                 "transactions_30d count 45 20 0 +"],
        categorical=["purpose:car home education medical business debt_consolidation travel wedding",
                     "home_ownership:rent own mortgage other", "employment_type:salaried self_employed contract retired student",
                     "term:36m 60m", "region:north south east west central capital",
                     "channel:branch online broker partner"],
        binary_targets=[("defaulted", "whether the loan defaults within a year"),
                        ("fraud_flag", "whether the application is confirmed fraudulent")],
        class_targets=[("risk_band", "the risk band assigned by the underwriter"),
                       ("product_taken", "the product the customer takes")],
        class_names="savings_plus credit_card personal_loan mortgage auto_loan insurance brokerage pension "
                    "student_loan business_line overdraft travel_card",
        regression_targets=[("loss_given_default_usd", "the loss given default", "USD", 3800, 1500),
                            ("credit_limit_usd", "the approved credit limit", "USD", 9000, 3500),
                            ("monthly_spend_usd", "the monthly card spend", "USD", 1300, 500)],
        label_names="late_payment over_limit chargeback early_repayment balance_transfer hardship_plan",
        text_column="application_note", text_source="loan officers' application notes",
        words="income salary employer contract bonus savings debt loan card mortgage rent payment late missed "
              "overdraft balance limit interest rate approved declined collateral guarantor business invoice cash "
              "transfer account statement verified document identity fraud suspicious stable steady irregular "
              "seasonal growth decline bankrupt default arrears settlement refinance consolidate budget expense "
              "tuition medical wedding travel car renovation",
        image_subject="scanned cheque tile", audio_subject="call-centre recording"),
    _domain(
        name="science", title="Science", organisation="a materials research laboratory",
        entity="experiment run", id_column="run_id", group_column="instrument_id",
        datetime_columns="measured_at",
        numeric=["lattice_a_angstrom Å 9.8 1.5 3 +", "lattice_b_angstrom Å 9.2 1.4 3 +", "lattice_c_angstrom Å 12 3 3 +",
                 "angle_alpha_deg deg 90 3 2", "angle_gamma_deg deg 95 12 2", "percent_al % 38 20 1 +",
                 "percent_ga % 30 18 1 +", "percent_in % 32 20 1 +", "atoms_in_cell count 50 20 0 +",
                 "anneal_temp_k K 720 90 0 +", "pressure_kpa kPa 101 12 1 +", "ph_value pH 7.0 1.1 2",
                 "concentration_mmol mmol/L 12 5 2 +", "reaction_time_min minutes 45 18 1 +", "wavelength_nm nm 540 60 0 +",
                 "sample_mass_mg mg 210 60 1 +"],
        categorical=["spacegroup:12 33 167 194 206 227", "instrument:xrd sem tem nmr ftir raman",
                     "solvent:water ethanol acetone methanol hexane toluene", "lab:north south east west",
                     "protocol:standard rapid extended cold", "catalyst:none pt pd ni fe cu"],
        binary_targets=[("reaction_success", "whether the synthesis yields the target phase"),
                        ("stable_phase", "whether the sample is stable after annealing")],
        class_targets=[("crystal_system", "the crystal system identified"), ("purity_grade", "the purity grade of the sample")],
        class_names="cubic tetragonal orthorhombic hexagonal trigonal monoclinic triclinic amorphous layered "
                    "perovskite spinel fluorite",
        regression_targets=[("formation_energy_ev", "the formation energy per atom", "eV", 0.19, 0.1),
                            ("bandgap_energy_ev", "the band gap energy", "eV", 2.1, 0.9),
                            ("conductivity_s_m", "the conductivity", "S/m", 340, 120)],
        label_names="magnetic conductive luminescent porous brittle soluble",
        text_column="lab_note", text_source="laboratory notebook entries",
        words="sample solution crystal powder film heated cooled annealed dissolved precipitate filtered dried "
              "measured spectrum peak shift broad sharp intensity baseline noise calibration standard reference "
              "reagent solvent catalyst yield purity phase structure lattice grain boundary defect doped oxide "
              "metal polymer ratio mixture stirred hours overnight temperature pressure vacuum argon nitrogen "
              "oxygen colour change opaque transparent stable unstable",
        image_subject="micrograph tile", audio_subject="ultrasonic probe recording"),
    _domain(
        name="energy", title="Energy", organisation="a regional power utility",
        entity="meter reading", id_column="reading_id", group_column="substation_id",
        datetime_columns="read_at",
        numeric=["temperature_c °C 14 8 1", "wind_speed_m_s m/s 5.5 2.8 1 +", "solar_irradiance_w_m2 W/m2 310 190 0 +",
                 "humidity_pct % 64 15 1 +", "load_kw kW 820 260 0 +", "voltage_v V 231 4 1 +",
                 "frequency_hz Hz 50 0.05 3 +", "panel_area_m2 m2 40 18 1 +", "building_age_years years 32 20 0 +",
                 "floor_area_m2 m2 180 90 0 +", "occupants count 3 1.6 0 +", "insulation_r m2K/W 3.2 1.1 2 +",
                 "turbine_age_years years 8 5 1 +", "battery_soc_pct % 55 24 1 +", "cloud_cover_pct % 48 30 0 +",
                 "price_usd_mwh USD/MWh 62 20 2 +"],
        categorical=["tariff:flat peak offpeak dynamic", "heating:gas electric heat_pump oil district none",
                     "building_type:house apartment office factory school hospital warehouse shop",
                     "meter_model:m1 m2 m3 m4 m5", "feeder:f1 f2 f3 f4 f5 f6", "season:winter spring summer autumn"],
        binary_targets=[("outage", "whether an outage follows within 24 hours"),
                        ("peak_exceeded", "whether demand exceeds the contracted peak")],
        class_targets=[("fault_type", "the fault type logged by field crews"), ("efficiency_class", "the efficiency class of the site")],
        class_names="none overload short_circuit earth_fault voltage_sag harmonic lightning vegetation "
                    "equipment_aging theft meter_fault cable_damage",
        regression_targets=[("daily_kwh", "the daily consumption", "kWh", 28, 10),
                            ("generation_mwh", "the daily generation", "MWh", 16, 6),
                            ("peak_demand_kw", "the peak demand", "kW", 950, 300)],
        label_names="heating_on cooling_on ev_charging solar_export battery_discharge night_usage",
        text_column="field_report", text_source="field crew reports",
        words="meter reading line cable transformer substation feeder outage fault trip breaker fuse voltage "
              "flicker surge load peak demand solar panel inverter battery wind turbine blade storm lightning tree "
              "branch vegetation crew repair replaced inspected restored customer complaint bill tariff usage "
              "heating cooling heat pump boiler insulation smart meter remote read estimate spike drop steady "
              "night morning weekend",
        image_subject="thermal camera tile", audio_subject="transformer hum recording"),
    _domain(
        name="agriculture", title="Agriculture", organisation="a cooperative of arable farms",
        entity="field plot", id_column="plot_id", group_column="farm_id",
        datetime_columns="sampled_at",
        numeric=["soil_ph pH 6.5 0.6 2", "nitrogen_kg_ha kg/ha 120 35 0 +", "phosphorus_kg_ha kg/ha 45 15 0 +",
                 "potassium_kg_ha kg/ha 160 40 0 +", "rainfall_mm mm 620 140 0 +", "mean_temp_c °C 16 3 1",
                 "sunshine_hours hours 1500 250 0 +", "soil_moisture_pct % 24 7 1 +", "organic_matter_pct % 3.1 1.0 2 +",
                 "seed_rate_kg_ha kg/ha 180 30 0 +", "plot_area_ha ha 4.5 2.2 2 +", "elevation_m m 210 90 0 +",
                 "slope_deg deg 4 3 1 +", "irrigation_mm mm 90 60 0 +", "pest_traps_count count 6 4 0 +",
                 "ndvi index 0.62 0.12 3 +"],
        categorical=["crop:wheat barley maize soy canola potato sugar_beet oats",
                     "soil_type:clay loam sand silt peat chalk", "tillage:none minimum conventional",
                     "irrigation_type:none drip sprinkler flood", "variety:v1 v2 v3 v4 v5 v6",
                     "previous_crop:wheat barley maize soy fallow grass"],
        binary_targets=[("disease_outbreak", "whether the plot shows disease by harvest"),
                        ("target_yield_met", "whether the plot meets its target yield")],
        class_targets=[("disease_type", "the disease identified by the agronomist"), ("grain_grade", "the grade of the harvested grain")],
        class_names="healthy rust blight mildew mosaic_virus root_rot scab leaf_spot wilt smut aphid_damage "
                    "frost_damage",
        regression_targets=[("yield_t_ha", "the yield", "t/ha", 7.2, 1.6), ("protein_pct", "the grain protein", "%", 11.8, 1.2),
                            ("water_use_mm", "the seasonal water use", "mm", 450, 90)],
        label_names="rust scab mildew aphids drought_stress nutrient_deficiency",
        text_column="scout_note", text_source="crop scouting notes",
        words="leaf leaves stem root spots yellow brown wilting curling lesions mould powder rust streaks healthy "
              "green vigorous stunted sparse dense canopy flowering grain ear pod tuber soil wet dry cracked "
              "waterlogged irrigation rain frost heat wind pest aphids beetles larvae eggs spray fungicide "
              "insecticide fertiliser nitrogen sample plot row edge centre field tractor harvest sowing emergence "
              "weeds",
        image_subject="leaf photo", audio_subject="field sensor recording"),
)}

GENERIC_WORDS = tuple(
    "the a an and or but of to in on at for with from by about this that these those it its they them "
    "we our you your he she was were is are be been has have had will would can could should may might "
    "very quite rather just also still again then now today yesterday later soon often sometimes there "
    "here some many few more most other another each every same new old first last next one two several".split()
)
NEGATIONS = ("not", "never", "no", "hardly", "without")


# ---- forecasting and graph vocabularies --------------------------------------------------------

@dataclass(frozen=True)
class SeriesVocabulary:
    """How a domain's forecasting task reads: what a series follows and what is forecast."""

    entity: str                         # what one series follows ("clinic")
    series_column: str                  # its id column in train.csv and test.csv
    target: Target                      # the forecast quantity, with a plausible level and spread
    exogenous: tuple[NumericColumn, ...]    # inputs known in advance
    event: str                          # what a dated event of holidays.csv is ("public holiday")


@dataclass(frozen=True)
class GraphVocabulary:
    """How a domain's graph task reads: what a node is and what an edge says."""

    node: str                           # "clinician"
    node_column: str                    # node id column
    relation: str                       # an edge (a, b) means: a <relation> b


def _series(entity: str, column: str, target: tuple, exogenous: list[str], event: str) -> SeriesVocabulary:
    return SeriesVocabulary(entity, column, Target(*target), tuple(_num(s) for s in exogenous), event)


SERIES_VOCABULARY: dict[str, SeriesVocabulary] = {
    "healthcare": _series("clinic", "clinic_id", ("admissions", "the admissions", "patients", 60, 20),
                          ["staff_on_shift count 24 6 0 +", "outdoor_temp_c °C 14 8 1", "flu_index - 2 1 2 +",
                           "beds_open count 80 15 0 +"], "public holiday"),
    "retail": _series("store", "store_id", ("units_sold", "the units sold", "units", 240, 80),
                      ["shelf_price_usd USD 22 4 2 +", "promo_depth_pct % 8 6 1 +", "footfall_index - 100 20 1 +",
                       "competitor_price_usd USD 23 4 2 +"], "public holiday"),
    "manufacturing": _series("production line", "line_id", ("units_made", "the units made", "units", 900, 200),
                             ["planned_hours h 16 3 1 +", "crew_size count 12 3 0 +", "order_backlog count 400 120 0 +",
                              "maintenance_minutes min 30 20 0 +"], "plant shutdown"),
    "it_operations": _series("service", "service_id", ("requests_k", "the requests served", "thousand requests", 120, 40),
                             ["deploys count 2 1.5 0 +", "marketing_emails_k thousand 20 15 1 +",
                              "cache_hit_pct % 85 6 1 +", "active_users_k thousand 40 12 1 +"], "product launch"),
    "transport": _series("station", "station_id", ("boardings", "the boardings", "passengers", 1500, 500),
                         ["trains_scheduled count 120 20 0 +", "rain_mm mm 2 3 1 +", "fare_usd USD 2.8 0.3 2 +",
                          "event_attendance_k thousand 3 4 1 +"], "public holiday"),
    "finance": _series("branch", "branch_id", ("transactions", "the card transactions", "transactions", 3000, 900),
                       ["cash_machines_up count 6 1 0 +", "interest_rate_pct % 4.2 0.5 2 +",
                        "campaign_spend_k_usd thousand_USD 12 8 1 +", "payday_flag - 0.1 0.3 0 +"], "bank holiday"),
    "science": _series("instrument", "instrument_id", ("samples_run", "the samples run", "samples", 45, 12),
                       ["technicians count 5 1.5 0 +", "reagent_stock_pct % 70 15 0 +",
                        "queue_length count 30 10 0 +", "calibration_flag - 0.1 0.3 0 +"], "lab closure"),
    "energy": _series("substation", "substation_id", ("load_mwh", "the energy load", "MWh", 420, 120),
                      ["temperature_c °C 12 8 1", "wind_speed_kmh km/h 18 9 1 +", "daylight_h h 12 3 1 +",
                       "price_usd_mwh USD/MWh 70 20 1 +"], "public holiday"),
    "agriculture": _series("market", "market_id", ("crates_sold", "the crates sold", "crates", 320, 90),
                           ["rain_mm mm 3 4 1 +", "temperature_c °C 16 7 1", "wholesale_price_usd USD 18 4 2 +",
                            "growers_present count 25 6 0 +"], "market holiday"),
}

GRAPH_VOCABULARY: dict[str, GraphVocabulary] = {
    "healthcare": GraphVocabulary("clinician", "clinician_id", "referred a patient to"),
    "retail": GraphVocabulary("product", "product_id", "is often bought together with"),
    "manufacturing": GraphVocabulary("part", "part_id", "is assembled with"),
    "it_operations": GraphVocabulary("service", "service_id", "calls"),
    "transport": GraphVocabulary("stop", "stop_id", "has a direct route to"),
    "finance": GraphVocabulary("account", "account_id", "sent money to"),
    "science": GraphVocabulary("paper", "paper_id", "cites"),
    "energy": GraphVocabulary("substation", "substation_id", "is linked by a line to"),
    "agriculture": GraphVocabulary("farm", "farm_id", "trades seed with"),
}
