"""The soil toy: a network only knows the conditions it was trained on.

Trains the default network (2 drivers -> 4 sigmoid hidden nodes -> 1 sigmoid
output) twice: on the three moist sites only, and with two dry sites added,
then predicts CO2 flux at six sites and prints both tables.

Run: ``python examples/soil_toy.py``
"""

import xrann


def main() -> None:
    sites = xrann.datasets.soil_toy_sites()
    table = sites.to_dataframe()[["soil_moisture", "grain_size"]]
    for dry, label in [(False, "moist sites only"), (True, "moist + dry sites")]:
        training = xrann.datasets.soil_toy(dry=dry)
        model = training.ann.fit(target="co2_flux", drivers=["soil_moisture", "grain_size"], seed=0, progress=False)
        table[f"flux ({label})"] = sites.ann.predict(model).values.round(1)
        print(f"Trained on {label}: {model.sample_counts['training']} sites, final loss {float(model.history.loss[-1]):.2e}")
    print()
    print(table.to_string())
    print()
    print("Dry sites (15 %, 0.1 mm) and (2 %, 0.1 mm): the moist-only network predicts moist-soil fluxes")
    print("there; with dry training sites it predicts low flux. Training data must span the conditions you predict.")


if __name__ == "__main__":
    main()
